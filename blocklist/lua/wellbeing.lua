-- An agent asks for a caller, or has just flagged one: their shift, their difficult calls in it and in the last
-- 7 days, and their wellbeing break, in one round trip. In 'duty' mode a crossed limit starts the break here,
-- with its `wellbeing_break` event and the supervisor's check-in, so two webhooks at once start one break.
--
-- KEYS: 1 phone identity -> username (ivr:desk:identities), 2 the managers' overrides (ivr:settings),
--       3 the event stream (ivr:events), 4 the check-ins' index (ivr:wellbeing:checkins)
-- ARGV: 1 the phone identity, 2 now (ms), 3 mode: 'duty' (on duty: keeps the shift, may start a break) or
--       'look' (writes nothing), 4 shift gap (ms), 5 shift limit, 6 week limit (0: off; the overrides win),
--       7 break length (ms), 8 the week (ms), 9 exposure key prefix (ivr:exposure:), 10 agent state key prefix
--       (ivr:wellbeing:agent:), 11 desk user key prefix (ivr:desk:user:), 12 check-in key prefix
--       (ivr:wellbeing:checkin:), 13 how long state and check-ins are kept (ms)
-- Returns {status, person, shift, week, shift_start, break_until, shift_limit, week_limit, reason, breather}
--   status: ok | started (a break starts now) | break (on a break already); breather: the managers' override
--   of the breather ('' for none).
-- The user and exposure keys are built here from the identities hash: this runs on one Redis (or a
-- Sentinel-managed primary), never a cluster.
local identity, now_s, mode = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(now_s)
local gap, break_ms, week_ms, keep = tonumber(ARGV[4]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[13])
local shift_limit, week_limit = tonumber(ARGV[5]), tonumber(ARGV[6])

local over = redis.call('HMGET', KEYS[2], 'exposure_shift_limit', 'exposure_week_limit', 'breather_seconds')
if over[1] and tonumber(over[1]) then shift_limit = tonumber(over[1]) end
if over[2] and tonumber(over[2]) then week_limit = tonumber(over[2]) end

local person = redis.call('HGET', KEYS[1], identity)
local phones = {identity}
if person then
  local listed = redis.call('HGET', ARGV[11] .. person, 'identities') or ''
  for phone in string.gmatch(listed, '[^,]+') do
    if phone ~= identity then phones[#phones + 1] = phone end
  end
else
  person = identity
end

local state_key = ARGV[10] .. person
local st = redis.call('HMGET', state_key, 'last_seen', 'shift_start', 'seen_shift', 'seen_week', 'break_until',
  'reason', 'break_from')
local last_seen = tonumber(st[1] or '')
local shift_start = tonumber(st[2] or '')
local seen_shift, seen_week = tonumber(st[3] or '') or 0, tonumber(st[4] or '') or 0
local break_until, reason = tonumber(st[5] or '') or 0, st[6] or ''
local break_from = tonumber(st[7] or '') or 0  -- a break recorded before its start was kept: from any time
-- `now` may be earlier than the clock that wrote this state: another web host's clock ahead of this one's, or
-- `ivr simulate` playing again a day it played before. What lies after `now` has not happened yet for this
-- request: a shift that starts later starts again now, a break that starts later is not on, and difficult
-- calls after now are not counted. So one clock far ahead never holds an agent off the queue on the others.
local new_shift = (last_seen == nil) or (shift_start == nil) or (shift_start > now) or (now - last_seen >= gap)
if new_shift then
  seen_shift = 0
  shift_start = (mode == 'duty') and now or nil
end

local week_from = now - week_ms
local shift, week = 0, 0
for _, phone in ipairs(phones) do
  local key = ARGV[9] .. phone
  week = week + redis.call('ZCOUNT', key, week_from, now_s)
  if shift_start then shift = shift + redis.call('ZCOUNT', key, math.max(shift_start, week_from), now_s) end
end

local status = 'ok'
if break_from <= now and now < break_until then status = 'break' end
local fmt = function(n) return string.format('%.0f', n) end

if mode == 'duty' then
  local crossed = ''
  if shift_limit > 0 and shift >= shift_limit and math.floor(shift / shift_limit) > math.floor(seen_shift / shift_limit) then
    crossed = 'shift'
  elseif week_limit > 0 and week >= week_limit and seen_week < week_limit then
    crossed = 'week'
  end
  redis.call('HSET', state_key, 'last_seen', now_s, 'shift_start', fmt(shift_start), 'seen_shift', shift,
    'seen_week', week)
  if crossed ~= '' and status == 'ok' then
    status, reason, break_until = 'started', crossed, now + break_ms
    local checkin = person .. '|' .. now_s
    local ckey = ARGV[12] .. checkin
    local limit = (crossed == 'shift') and shift_limit or week_limit
    redis.call('HSET', state_key, 'break_from', now_s, 'break_until', fmt(break_until), 'reason', crossed,
      'checkin', checkin)
    redis.call('HSET', ckey, 'id', checkin, 'agent', person, 'identity', identity, 'reason', crossed,
      'shift', shift, 'week', week, 'limit', limit, 'shift_start', fmt(shift_start), 'at', now_s,
      'until', fmt(break_until))
    redis.call('PEXPIRE', ckey, keep)
    redis.call('ZADD', KEYS[4], now_s, checkin)
    redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -1001)
    redis.call('XADD', KEYS[3], '*', 'type', 'wellbeing_break', 'ts', now_s, 'agent', person, 'identity', identity,
      'reason', crossed, 'shift', shift, 'week', week, 'limit', limit, 'shift_start', fmt(shift_start),
      'until', fmt(break_until), 'checkin', checkin)
  end
  redis.call('PEXPIRE', state_key, keep)
end

return {status, person, shift, week, shift_start and fmt(shift_start) or '', fmt(break_until), shift_limit,
  week_limit, reason, over[3] or ''}
