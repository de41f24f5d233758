-- The latest leg of each of one desk user's phones, in one round trip (the pointer, then the leg it names).
--
-- KEYS: the identities' current-leg pointers (ivr:agent:<identity>:leg)
-- ARGV: 1 the agent-leg key prefix (ivr:agentleg:), the pointer's CallSid completes it
-- Returns {CallSid, {field, value, ...}} for each pointer whose leg is still known, in KEYS order.
-- The leg keys are built here from the pointers' values: this runs on one Redis (or a Sentinel-managed
-- primary), never a cluster.
local out = {}
for _, pointer in ipairs(KEYS) do
  local sid = redis.call('GET', pointer)
  if sid then
    local leg = redis.call('HGETALL', ARGV[1] .. sid)
    if #leg > 0 then out[#out + 1] = {sid, leg} end
  end
end
return out
