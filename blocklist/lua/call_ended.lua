if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local first = redis.call('HSETNX', KEYS[1], 'ended', ARGV[1])
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'duration', ARGV[3])
if first == 1 then
  local info = redis.call('HMGET', KEYS[1], 'number', 'line', 'kind')
  redis.call('XADD', KEYS[2], '*', 'type', 'status', 'ts', ARGV[1], 'call_sid', ARGV[4], 'number', info[1] or '',
    'line', info[2] or '', 'status', ARGV[2], 'duration', ARGV[3], 'kind', info[3] or '')
end
return first
