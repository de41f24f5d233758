-- Move one batch of adopted manager blocks out of the blocklist (`ivr feeds adopt`, blocklist/feed_adopt.py), after
-- the feed that lists them was swapped in. A block goes only if it is still the one the adoption read: the same
-- `at`, made by a manager (via manager, ladder step 0) and no history entry since; a flag, an edit or a new block
-- meanwhile keeps it where it is (a person's decision). No `unblock` event: the reports count those as appeals.
--
-- KEYS: 1 the block index, then per number: its block hash, its history list.
-- ARGV: 1 the scope ('*' or a line), 2 the history entry to append (JSON), then per number: the number, the
--       block's `at` as read, the history's length as read.
-- Returns {moved, gone, changed numbers...}: gone = the block had ended meanwhile (its stale index member goes).
local index, scope, entry = KEYS[1], ARGV[1], ARGV[2]
local moved, gone, changed = 0, 0, {}  -- changed: numbers, returned after the two counts
for i = 1, (#KEYS - 1) / 2 do
  local block, hist = KEYS[2 * i], KEYS[2 * i + 1]
  local number, at, length = ARGV[3 * i], ARGV[3 * i + 1], tonumber(ARGV[3 * i + 2])
  local now = redis.call('HMGET', block, 'at', 'via', 'step')
  if not now[1] then
    redis.call('ZREM', index, scope .. '|' .. number)
    gone = gone + 1
  elseif now[1] == at and now[2] == 'manager' and (now[3] or '0') == '0' and redis.call('LLEN', hist) == length then
    redis.call('DEL', block)
    redis.call('ZREM', index, scope .. '|' .. number)
    redis.call('RPUSH', hist, entry)
    moved = moved + 1
  else
    changed[#changed + 1] = number
  end
end
table.insert(changed, 1, gone)
table.insert(changed, 1, moved)
return changed
