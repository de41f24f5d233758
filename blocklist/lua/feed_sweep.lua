-- Remove the aged-out numbers of some buckets of one feed. KEYS: the bucket hashes; ARGV: 1 cut-off in seconds
-- (an entry last reported at or before it has aged out). Returns how many numbers were removed.
local cutoff, removed = tonumber(ARGV[1]), 0
for _, key in ipairs(KEYS) do
  local flat = redis.call('HGETALL', key)
  local gone = {}
  for i = 1, #flat, 2 do
    if math.floor(tonumber(flat[i + 1]) / 1000) <= cutoff then gone[#gone + 1] = flat[i] end
  end
  if #gone > 0 then
    for i = 1, #gone, 1000 do redis.call('HDEL', key, unpack(gone, i, math.min(i + 999, #gone))) end
    removed = removed + #gone
  end
end
return removed
