local seen, lengths = {}, {}
for _, member in ipairs(redis.call('HKEYS', KEYS[1])) do
  local bar = string.find(member, '|', 1, true)
  local n = tostring(string.len(member) - (bar or 0))
  if not seen[n] then seen[n] = true; lengths[#lengths + 1] = n end
end
redis.call('DEL', KEYS[2])
redis.call('SADD', KEYS[2], ARGV[1], unpack(lengths))
return #lengths
