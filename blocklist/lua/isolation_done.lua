if redis.call('HSETNX', KEYS[1], 'isolation_done', ARGV[1]) == 0 then return 0 end
local info = redis.call('HMGET', KEYS[1], 'number', 'line', 'isolation_started')
local started = tonumber(info[3] or '') or tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'isolation_outcome', ARGV[2])
redis.call('XADD', KEYS[2], '*', 'type', 'isolation', 'ts', ARGV[1], 'call_sid', ARGV[3], 'number', info[1] or '',
  'line', info[2] or '', 'outcome', ARGV[2], 'seconds', tostring(math.floor((tonumber(ARGV[1]) - started) / 1000)))
return 1
