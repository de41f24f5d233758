-- Screen one incoming call: read every rule, decide, record the call and its event. One round trip.
-- Read-decide-write must be atomic (burst window, idempotent replay by CallSid), hence Lua.
--
-- KEYS: 1 allow hash, 2 global block, 3 line block, 4 prefix hash, 5 settings hash, 6 line hash,
--       7 burst zset, 8 events stream, 9 call hash, 10 review zset, 11 review info hash, 12 prefix lengths set,
--       13 campaign zset (numbers of the caller's exchange on this line), 14 campaign-known marker,
--       15 the feeds in force (name -> "version|buckets|scope|treatment|age_out_s|source"; blocklist/feeds.py),
--       16 the number's contact restrictions (id -> "kind|scope|start|until|rule|words"; blocklist/restrictions.py),
--       17 the calls counted under its max-calls restrictions (CallSid -> ms)
-- ARGV: 1 number|anonymous, 2 line, 3 now ms, 4 CallSid, 5 write (1|0), 6 default treatment,
--       7 default withheld policy, 8 burst calls, 9 burst minutes, 10 burst action, 11 call ttl ms,
--       12-14 languages from the settings: line, caller country, default (the managers' Redis overrides win),
--       15-17 the number's region, line type and carrier (phonenumbers' facts: on the event; line type is also
--       a rule input), 18-22 signals: attestation class, StirVerstat, reputation score ('' none), provider,
--       the add-on's words, 23 the caller's exchange for campaigns ('' none), 24-34 the signal settings'
--       defaults (policy.SIGNAL_SETTINGS order), 35-38 the local clock of IVR_TIMEZONE for restrictions: weekday
--       (Mon=0), minute of the day, the day's start ms, the week's start ms (Monday 00:00), then name/value pairs
--       stored on the call and on its event as sent (the webhook's fields, and rep/rep_by when there is a score).
-- The number's prefixes are made here, longest first, only in the lengths some rule has (KEYS[12], once it
-- is 'indexed'): a list of 10,000 exchange rules costs two hash lookups per call instead of two per digit.
-- Bulk feeds are looked up by name from KEYS[15]: each feed's bucket key is built here (ivr:feed:<name>:<version>:
-- <bucket>, as keys.feed_bucket writes it), one HGET per feed in force on the line.
local number, line, now, sid = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now_text = ARGV[3]  -- as sent: a Lua number would be printed with %.17g on every use
local write = ARGV[5] == '1'

if write and sid ~= '' and redis.call('EXISTS', KEYS[9]) == 1 then  -- an integer: the usual (new) call reads no more
  local prev = redis.call('HMGET', KEYS[9], 'decision', 'rule', 'treatment', 'detail', 'lang')
  if prev[1] then
    return {prev[1], prev[2] or '', prev[3] or '', prev[4] or '', 'replay', prev[5] or ''}
  end
end

local line_cfg = redis.call('HGETALL', KEYS[6])
local global_cfg = redis.call('HGETALL', KEYS[5])
local function to_map(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end
line_cfg, global_cfg = to_map(line_cfg), to_map(global_cfg)
local function setting(name, default)
  local v = line_cfg[name]
  if v and v ~= '' then return v end
  v = global_cfg[name]
  if v and v ~= '' then return v end
  return default
end

-- Prompt language: manager's line override, configured line language, caller country, manager's
-- global override, configured default.
local function first_known(...)  -- varargs: no table per call
  for i = 1, select('#', ...) do
    local c = select(i, ...)
    if c == 'en' or c == 'af' or c == 'zh' or c == 'pt' or c == 'vi' or c == 'fi' then return c end
  end
  return ''
end
local lang = first_known(line_cfg['language'], ARGV[12], ARGV[13], global_cfg['language'], ARGV[14])

local decision, rule, treatment, detail = 'allow', 'none', '', ''
local feed_field = ''
local withheld = number == 'anonymous'
local allowlisted = false

if not withheld then
  local a = redis.call('HMGET', KEYS[1], line .. '|' .. number, '*|' .. number)
  if a[1] or a[2] then
    allowlisted = true
    rule = 'allowlist'
    detail = a[1] and ('line ' .. line) or 'all lines'
  end
end

-- One EXISTS for both scopes' block hashes (the usual caller has neither), then the line's block before the global.
if not allowlisted and not withheld and redis.call('EXISTS', KEYS[3], KEYS[2]) > 0 then
  local t, where = redis.call('HGET', KEYS[3], 'treatment'), nil
  if t then
    where = 'line ' .. line
  else
    t, where = redis.call('HGET', KEYS[2], 'treatment'), 'all lines'
  end
  if t then
    decision, rule, detail = 'treat', 'number', where
    treatment = (t ~= '' and t) or setting('blocked_treatment', ARGV[6])
  end
end

-- Contact restrictions: a manager's decision about this number, so they apply to an allowlisted number too; a
-- block is stricter and has decided already. Hours or a full day's (week's) count refuse the call (the caller
-- hears the notice); voicemail-only takes a message; a route sends the call to its queue (later rules may still
-- treat it). One HGETALL, empty for the numbers nobody restricted. A restriction counts from its start to its end,
-- to the millisecond.
local counted = false  -- the call counts under a max-calls restriction (recorded at the end, if it goes on)
if not withheld and decision == 'allow' then
  local rs = redis.call('HGETALL', KEYS[16])
  if #rs > 0 then
    local weekday, minute = tonumber(ARGV[35]) or 0, tonumber(ARGV[36]) or 0
    local refused, voicemail, route, limits = nil, nil, nil, {}
    for i = 1, #rs, 2 do
      local kind, scope, start, till, spec, words =
        string.match(rs[i + 1], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
      local from, to = tonumber(start) or 0, tonumber(till)
      if kind and (scope == '*' or scope == line) and from <= now and (not to or now < to) then
        if kind == 'hours' then
          local open = false
          for days, a, b in string.gmatch(spec, '([01]+):(%d+):(%d+)') do
            if string.sub(days, weekday + 1, weekday + 1) == '1' and tonumber(a) <= minute and minute < tonumber(b) then
              open = true
              break
            end
          end
          if not open and not refused then refused = 'outside the agreed ' .. words end
        elseif kind == 'max_calls' then
          limits[#limits + 1] = {spec, words}
        elseif kind == 'voicemail' then
          voicemail = words
        elseif kind == 'route' then
          route = {spec, words}
        end
      end
    end
    if not refused and #limits > 0 then
      counted = true
      for _, limit in ipairs(limits) do
        local most, per = string.match(limit[1], '^(%d+):(%a+)$')
        most = tonumber(most)
        if most then
          local made = redis.call('ZCOUNT', KEYS[17], per == 'week' and ARGV[38] or ARGV[37], '+inf')
          if made >= most then
            refused = 'call ' .. (made + 1) .. (per == 'week' and ' this week' or ' today') .. ', over the limit: ' .. limit[2]
            break
          end
        end
      end
    end
    if refused then
      decision, rule, treatment, detail, counted = 'treat', 'restriction', 'restricted', refused, false
    elseif voicemail then
      decision, rule, treatment, detail = 'treat', 'restriction', 'voicemail', voicemail
    elseif route then
      rule, treatment, detail = 'restriction', 'route:' .. route[1], route[2]
    end
  end
end

if not allowlisted and not withheld and decision == 'allow' then
  if decision == 'allow' then
    local feeds = redis.call('HGETALL', KEYS[15])
    if #feeds > 0 then
      local digits = string.sub(number, 2)
      for i = 1, #feeds, 2 do
        local name = feeds[i]
        local version, buckets, scope, feed_treatment, age, source =
          string.match(feeds[i + 1], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
        local m = tonumber(buckets)
        if version and m and m > 0 and (scope == '*' or scope == line) then
          local bucket = 0  -- the digits modulo m, digit by digit: exact whatever the number's length
          for d = 1, #digits do bucket = (bucket * 10 + string.byte(digits, d) - 48) % m end
          local v = tonumber(redis.call('HGET', 'ivr:feed:' .. name .. ':' .. version .. ':' .. bucket, digits) or '')
          if v then
            local seen, reports, age_s = math.floor(v / 1000), v % 1000, tonumber(age) or 0
            local left = age_s > 0 and ((seen + age_s) * 1000 - now) or 1
            if left > 0 then  -- an aged-out entry is absent from the second it ages out (the sweeper removes it)
              decision, rule, feed_field = 'treat', 'feed', name
              treatment = (feed_treatment ~= '' and feed_treatment) or setting('blocked_treatment', ARGV[6])
              detail = 'feed ' .. name .. ' (' .. source .. '): ' .. reports .. (reports == 1 and ' report' or ' reports')
              if age_s > 0 then
                local hours = math.ceil(left / 3600000)
                detail = detail .. ', ages out in ' .. (hours > 48 and (math.ceil(hours / 24) .. ' days') or (hours .. ' h'))
              end
              break
            end
          end
        end
      end
    end
  end
  if decision == 'allow' then
    local members, lengths, indexed = redis.call('SMEMBERS', KEYS[12]), {}, false
    for _, m in ipairs(members) do
      if m == 'indexed' then indexed = true else lengths[#lengths + 1] = tonumber(m) or 0 end
    end
    if indexed then
      table.sort(lengths)  -- ascending; walked from the end: longest first
    else  -- the index was never built from every rule: try every length
      lengths = {}
      for n = 2, #number do lengths[#lengths + 1] = n end
    end
    local fields, prefixes = {}, {}
    for j = #lengths, 1, -1 do
      local n = lengths[j]
      if n >= 2 and n <= #number then
        local prefix = string.sub(number, 1, n)
        prefixes[#prefixes + 1] = prefix
        fields[#fields + 1] = line .. '|' .. prefix
        fields[#fields + 1] = '*|' .. prefix
      end
    end
    local vals = #fields > 0 and redis.call('HMGET', KEYS[4], unpack(fields)) or {}
    for i = 1, #fields do
      if vals[i] then
        local ok, meta = pcall(cjson.decode, vals[i])
        local t = (ok and type(meta) == 'table' and meta.treatment) or ''
        local prefix = prefixes[math.floor((i + 1) / 2)]
        decision, rule = 'treat', 'prefix'
        detail = prefix .. ((i % 2 == 1) and (' on line ' .. line) or ' (all lines)')
        treatment = (t ~= '' and t) or setting('blocked_treatment', ARGV[6])
        break
      end
    end
  end
end

if withheld then
  local policy = setting('withheld_policy', ARGV[7])
  if policy ~= 'allow' then
    decision, rule, treatment, detail = 'treat', 'withheld', policy, 'withheld caller ID policy'
  end
end

-- Caller signals (attestation, reputation, line type, campaign): each may let the call through, put the
-- caller on the review list (the call goes on), or treat it. They come after every list: an 'A' attestation
-- or a clean score never bypasses a block, and an allowlisted caller is never judged by them.
local attest, stir, rep, rep_by, rep_words, exchange = ARGV[18], ARGV[19], ARGV[20], ARGV[21], ARGV[22], ARGV[23]
local reviewed = nil  -- {rule, detail} of a signal that listed the caller for review
local campaign_field = ''

local function review(subject, info)
  if write then
    redis.call('ZADD', KEYS[10], now, subject)
    redis.call('HSET', KEYS[11], subject, cjson.encode(info))
  end
end

-- action: allow | review | a treatment. Returns true when the call is treated.
local function judge(action, name, why)
  if action == 'review' then
    if not reviewed then
      reviewed = {name, why}
      review((withheld and line or '*') .. '|' .. number, {number = number, line = line, at = now, call_sid = sid,
        rule = name, detail = why})
    end
    return false
  end
  if action == '' or action == 'allow' then return false end
  decision, rule, treatment, detail = 'treat', name, action, why
  return true
end

if decision == 'allow' and not allowlisted then
  local score = tonumber(rep)
  if score then
    local high = tonumber(setting('reputation_high', ARGV[26])) or 101
    local medium = tonumber(setting('reputation_medium', ARGV[28])) or 101
    if score >= high or score >= medium then
      local who = rep_by ~= '' and (' (' .. rep_by .. (rep_words ~= '' and (': ' .. rep_words) or '') .. ')') or ''
      if score >= high then
        judge(setting('reputation_high_action', ARGV[27]), 'reputation', 'reputation ' .. rep .. who .. ' >= ' .. high)
      else
        judge(setting('reputation_medium_action', ARGV[29]), 'reputation', 'reputation ' .. rep .. who .. ' >= ' .. medium)
      end
    end
  end
  if decision == 'allow' and (attest == 'failed' or attest == 'unsigned') then
    local words = attest == 'failed' and 'verification failed' or 'not signed'
    judge(attest == 'failed' and setting('attest_failed', ARGV[24]) or setting('attest_unsigned', ARGV[25]), 'attestation',
      'STIR/SHAKEN ' .. (stir ~= '' and stir or 'absent') .. ' (' .. words .. ')')
  end
  local kind = ARGV[16]
  if decision == 'allow' and kind ~= '' then
    local types = ',' .. string.gsub(setting('line_types', ARGV[30]), '%s', '') .. ','
    if string.find(types, ',' .. kind .. ',', 1, true) then
      judge(setting('line_types_action', ARGV[31]), 'line_type', 'line type ' .. kind)
    end
  end
end

-- A sliding window (burst, campaign): add the member now and return how many are within the window. Members
-- older than the window are trimmed only when the raw count could pass the limit: a window at or under its
-- limit is the common case, and the key's own expiry (one window) bounds what is left in it.
local function window_add(key, member, window, limit)
  redis.call('ZADD', key, now_text, member)
  redis.call('PEXPIRE', key, string.format('%d', window))
  local count = redis.call('ZCARD', key)
  if count > limit then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('(%d', now - window))
    count = redis.call('ZCARD', key)
  end
  return count
end

if decision == 'allow' and not allowlisted then
  local limit = tonumber(setting('burst_calls', ARGV[8])) or 0
  local minutes = tonumber(setting('burst_minutes', ARGV[9])) or 0
  local action = setting('burst_action', ARGV[10])
  if limit > 0 and minutes > 0 then
    local window = minutes * 60000
    local count
    if write then
      count = window_add(KEYS[7], sid ~= '' and sid or now_text, window, limit)
    else
      count = redis.call('ZCOUNT', KEYS[7], now - window, '+inf') + 1
    end
    if count > limit then
      detail = count .. ' calls in ' .. minutes .. ' min (limit ' .. limit .. ')'
      rule = 'burst'
      if action == 'review' then
        if write then
          local subject = (withheld and line or '*') .. '|' .. number
          redis.call('ZADD', KEYS[10], now, subject)
          redis.call('HSET', KEYS[11], subject, cjson.encode({number = number, line = line, calls = count,
            minutes = minutes, at = now, call_sid = sid}))
        end
      else
        decision, treatment = 'treat', action
      end
    end
  end
end

-- Campaign: many different numbers of one exchange on one line within the window (a caller rotating
-- numbers defeats the per-number burst rule). Every call of the exchange counts, treated ones too; the
-- campaign's own rule decides only calls nothing else has stopped.
if exchange ~= '' and not allowlisted and not withheld then
  local limit = tonumber(setting('campaign_numbers', ARGV[32])) or 0
  local minutes = tonumber(setting('campaign_minutes', ARGV[33])) or 0
  if limit > 0 and minutes > 0 then
    local window = minutes * 60000
    local count
    if write then
      count = window_add(KEYS[13], number, window, limit)
    else
      count = redis.call('ZCOUNT', KEYS[13], now - window, '+inf')
      local last = redis.call('ZSCORE', KEYS[13], number)
      if not last or tonumber(last) < now - window then count = count + 1 end
    end
    if count > limit then
      campaign_field = exchange
      local action = setting('campaign_action', ARGV[34])
      local why = 'campaign: ' .. count .. ' numbers from ' .. exchange .. ' in ' .. minutes .. ' min (limit ' .. limit .. ')'
      if write and redis.call('SET', KEYS[14], now_text, 'PX', string.format('%d', window), 'NX') then
        local first = redis.call('ZRANGE', KEYS[13], 0, 0, 'WITHSCORES')
        redis.call('XADD', KEYS[8], '*', 'type', 'campaign', 'ts', now_text, 'line', line, 'prefix', exchange,
          'numbers', tostring(count), 'minutes', tostring(minutes), 'first', first[2] or now_text, 'action', action,
          'call_sid', sid)
        if action == 'review' then
          review(line .. '|' .. exchange, {number = exchange, prefix = exchange, line = line, at = now, call_sid = sid,
            rule = 'campaign', detail = why, calls = count, minutes = minutes})
        end
      end
      if decision == 'allow' then
        if action == 'review' then
          if not reviewed then reviewed = {'campaign', why} end
        else
          judge(action, 'campaign', why)
        end
      end
    end
  end
end

if decision == 'allow' and reviewed and rule == 'none' then
  rule, detail = reviewed[1], reviewed[2]
end

if write then
  -- Both records end with the same name/value pairs: a campaign's or a feed's when the call has one, then the
  -- webhook's (ARGV[39..], the reputation's rep and rep_by among them). The usual call passes ARGV's tail as it
  -- is, as the last argument of a literal list: no table to build.
  local more = nil
  if campaign_field ~= '' or feed_field ~= '' then
    more = {}
    if campaign_field ~= '' then more[#more + 1], more[#more + 2] = 'campaign', campaign_field end
    if feed_field ~= '' then more[#more + 1], more[#more + 2] = 'feed', feed_field end
    for i = 39, #ARGV do more[#more + 1] = ARGV[i] end
  end
  local function rest()
    if more then return unpack(more) end
    return unpack(ARGV, 39)
  end
  if sid ~= '' then
    redis.call('HSET', KEYS[9], 'kind', 'caller', 'number', number, 'line', line, 'decision', decision, 'rule', rule,
      'treatment', treatment, 'detail', detail, 'started', now_text, 'lang', lang, 'attest', attest, rest())
    redis.call('PEXPIRE', KEYS[9], ARGV[11])
  end
  local function event(...)
    redis.call('XADD', KEYS[8], '*', 'type', 'call', 'ts', now_text, 'call_sid', sid, 'number', number, 'line', line,
      'decision', decision, 'rule', rule, 'treatment', treatment, 'region', ARGV[15], 'line_type', ARGV[16],
      'carrier', ARGV[17], 'attest', attest, ...)
  end
  if detail ~= '' then event('detail', detail, rest()) else event(rest()) end
  if counted and (decision == 'allow' or treatment == 'voicemail') then
    redis.call('ZADD', KEYS[17], now_text, sid ~= '' and sid or now_text)
    redis.call('ZREMRANGEBYSCORE', KEYS[17], '-inf', string.format('(%d', now - 691200000))  -- keep 8 days
    redis.call('PEXPIRE', KEYS[17], 691200000)
  end
end

return {decision, rule, treatment, detail, 'new', lang}
