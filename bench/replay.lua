-- wrk script: replay pre-signed requests, one per line of the file given as the first script argument:
--   <path> TAB <header name> TAB <header value> TAB <content type> TAB <body>
-- Thread k of n takes lines k, k+n, k+2n...: no two connections ever send the same CallSid.
-- A thread that runs out of lines starts again at its first one and says so ("wrapped").
-- Usage: wrk -t T -c C -d D -s replay.lua http://127.0.0.1:PORT -- FILE T
-- With BENCH_RETRY_AFTER=1 in wrk's environment, the client waits as the desk's pages and the API's documented
-- clients do: a 503 with Retry-After owes that wait, served before the thread's next request. (wrk asks for a
-- delay per request, not per connection: the wait falls on the next connection ready to send, which with one
-- thread is as often the refused one as any other, so as many connections wait as were refused.)

local threads = {}
local requests, count, pos, wrapped = {}, 0, 0, 0

function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, total = args[1], tonumber(args[2]) or 1
  local i = 0
  for line in io.lines(file) do
    if i % total == thread_no then
      local path, name, value, ctype, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      count = count + 1
      requests[count] = wrk.format("POST", path, {[name] = value, ["Content-Type"] = ctype}, body)
    end
    i = i + 1
  end
  if count == 0 then error("no requests for thread " .. thread_no .. " in " .. file) end
end

function request()
  pos = pos + 1
  if pos > count then
    pos, wrapped = 1, wrapped + 1
  end
  return requests[pos]
end

if os.getenv("BENCH_RETRY_AFTER") == "1" then
  local owed = {}

  function response(status, headers, _)
    if status == 503 then
      local after = tonumber(headers["Retry-After"] or "")
      if after then owed[#owed + 1] = math.floor(after * 1000) end
    end
  end

  function delay()
    if #owed > 0 then return table.remove(owed, 1) end
    return 0
  end
end

function done(summary, latency, _)
  local wraps, sent = 0, 0
  for _, t in ipairs(threads) do
    wraps = wraps + (t:get("wrapped") or 0)
    sent = sent + (t:get("count") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "wraps": %d, "lines": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    wraps, sent))
end
