-- Write one batch of a feed import into its buckets. KEYS: the bucket hashes; ARGV[k]: the numbers for KEYS[k],
-- as "digits value digits value ..." (value = seen_s * 1000 + evidence; one string per bucket, so the client
-- sends a few large arguments instead of two per number). A number already in its bucket (the same file named
-- it in an earlier batch) keeps the later date and the sum of the reports (at most 999).
-- Returns how many numbers were new.
local added = 0
for k = 1, #KEYS do
  local key = KEYS[k]
  for digits, text in string.gmatch(ARGV[k], '(%d+) (%d+)') do
    if redis.call('HSETNX', key, digits, text) == 1 then
      added = added + 1
    else
      local old, value = tonumber(redis.call('HGET', key, digits)), tonumber(text)
      local seen = math.max(math.floor(old / 1000), math.floor(value / 1000))
      local evidence = math.min(old % 1000 + value % 1000, 999)
      redis.call('HSET', key, digits, string.format('%d', seen * 1000 + evidence))
    end
  end
end
return added
