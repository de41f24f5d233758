if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[1]) end
if KEYS[4] and ARGV[2] ~= '' then redis.call('RPUSH', KEYS[4], ARGV[2]) end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
return 1
