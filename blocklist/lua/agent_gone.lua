if redis.call('HGET', KEYS[1], 'agent_leg') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'bridge_end', 'agent_gone', 'bridge_end_at', ARGV[1])
  return 1
end
return 0
