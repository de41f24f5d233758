-- Flag one call as harassment: once per CallSid, climb the sanction ladder, block, log. Atomic.
--
-- KEYS: 1 flag-once key, 2 global block hash, 3 history list, 4 strikes hash, 5 events stream,
--       6 call hash, 7 block index zset, 8 settings hash (a manager's sanction_ladder overrides ARGV 8)
-- ARGV: 1 number|anonymous, 2 now ms, 3 via (key|desk|api), 4 agent, 5 reason, 6 note, 7 CallSid,
--       8 ladder (comma separated seconds, 'p' = permanent), 9 line, 10 flag-once ttl s,
--       11 abuse category (blocklist/abuse.py key, checked by the caller),
--       12 how many words of name/value pairs follow, then those pairs (added to the event: geography,
--       phonenumbers facts), then what only a new flag also does (the caller's move, RQ jobs): commands,
--       each as its word count and then its words. Each runs even when one before it failed, as in a MULTI;
--       the errors come back after the answer.
local number, now, via, agent, reason, note, sid = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local category = ARGV[11]
local ladder_spec = (KEYS[8] and redis.call('HGET', KEYS[8], 'sanction_ladder')) or ARGV[8]
if not ladder_spec or ladder_spec == '' then ladder_spec = ARGV[8] end

if not redis.call('SET', KEYS[1], via, 'NX', 'EX', tonumber(ARGV[10])) then
  return {'duplicate', redis.call('GET', KEYS[1]) or '', '', '0'}
end
redis.call('HSET', KEYS[6], 'flagged', tostring(now), 'flag_via', via, 'flag_agent', agent, 'category', category)
-- A flag may name a call this service never screened; its hash must not outlive the real ones.
if redis.call('PTTL', KEYS[6]) == -1 then redis.call('EXPIRE', KEYS[6], tonumber(ARGV[10])) end

local blocked, until_ms, step = '0', '', 0
if number ~= 'anonymous' then
  local existing_ttl = redis.call('PTTL', KEYS[2])
  local current = redis.call('HMGET', KEYS[2], 'step', 'until', 'treatment')
  local current_step = tonumber(current[1] or '0') or 0
  if existing_ttl ~= -2 and current_step > 0 then
    -- Flagged while a ladder block is still in force (parallel calls from one switchboard, or the
    -- desk flagging the last caller late): same episode, so the ladder does not climb again.
    step, until_ms, blocked = current_step, current[2] or '', '1'
    redis.call('RPUSH', KEYS[3], cjson.encode({at = now, action = 'flag', by = agent, role = 'agent', via = via,
      reason = reason, note = note, call_sid = sid, line = ARGV[9], step = step, category = category,
      outcome = 'already blocked: the block in force stands'}))
  else
    step = redis.call('HINCRBY', KEYS[4], number, 1)
    local ladder = {}
    for part in string.gmatch(ladder_spec, '[^,]+') do ladder[#ladder + 1] = part end
    local rung = ladder[math.min(step, #ladder)]
    local treatment = current[3] or ''
    local permanent = rung == 'p' or existing_ttl == -1
    local expires = 0
    if not permanent then
      expires = now + tonumber(rung) * 1000
      if existing_ttl > 0 and now + existing_ttl > expires then expires = now + existing_ttl end
      until_ms = tostring(expires)
    end
    redis.call('HSET', KEYS[2], 'treatment', treatment, 'reason', reason, 'by', agent, 'via', via,
      'call_sid', sid, 'at', tostring(now), 'step', tostring(step), 'until', until_ms, 'line', ARGV[9])
    if permanent then redis.call('PERSIST', KEYS[2]) else redis.call('PEXPIREAT', KEYS[2], expires) end
    redis.call('ZADD', KEYS[7], now, '*|' .. number)
    redis.call('RPUSH', KEYS[3], cjson.encode({at = now, action = 'flag', by = agent, role = 'agent', via = via,
      reason = reason, note = note, call_sid = sid, line = ARGV[9], step = step, category = category}))
    redis.call('RPUSH', KEYS[3], cjson.encode({at = now, action = 'block', by = agent, role = 'agent', via = via,
      reason = reason, call_sid = sid, scope = '*', step = step, ['until'] = until_ms, treatment = treatment,
      permanent = permanent}))
    blocked = '1'
  end
end

local ev = {'type', 'flag', 'ts', tostring(now), 'call_sid', sid, 'number', number, 'line', ARGV[9],
  'via', via, 'agent', agent, 'reason', reason, 'note', note, 'blocked', blocked, 'until', until_ms,
  'step', tostring(step), 'category', category}
local follow = 13 + tonumber(ARGV[12])
for i = 13, follow - 2, 2 do ev[#ev + 1] = ARGV[i]; ev[#ev + 1] = ARGV[i + 1] end
redis.call('XADD', KEYS[5], '*', unpack(ev))

local answer = {'flagged', blocked, until_ms, tostring(step)}
while follow <= #ARGV do
  local words = tonumber(ARGV[follow])
  local reply = redis.pcall(unpack(ARGV, follow + 1, follow + words))
  if type(reply) == 'table' and reply.err then answer[#answer + 1] = reply.err end
  follow = follow + words + 1
end
return answer
