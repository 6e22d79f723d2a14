-- wrk script for bench/run.py: POSTs form-encoded token requests, cycling through the
-- bodies in the file named after `--` (one body per line), and prints the figures as one
-- machine-readable line at the end.
--
--   wrk -tTHREADS ... -s bench/token.lua http://127.0.0.1:PORT/path -- bodies.txt THREADS
--
-- With THREADS given (wrk's -t), thread k of them takes the bodies k+1, k+1+THREADS, ...
-- so that no two threads send the same body: a body is sent twice only after its thread
-- went through all of its share (which bench/run.py makes large enough when bodies must
-- not repeat, such as assertions with a `jti` the server remembers). The BENCH line's
-- `repeated` counts the requests that sent a body its thread had sent before.

local requests = {}
local next_request = 1
-- Globals, read from the main state at the end (thread:get): bodies of this thread, sent.
share = 0
sent = 0

-- Called in wrk's main state for each thread, before that thread's init().
local threads = {}
function setup(thread)
  thread:set("thread_index", #threads)
  threads[#threads + 1] = thread
end

-- Each request is formatted once here: formatting it anew for every request would cost
-- wrk (which shares the machine with the server) more for larger bodies.
function init(args)
  local bodies = {}
  for line in io.lines(args[1]) do
    if line ~= "" then
      bodies[#bodies + 1] = line
    end
  end
  assert(#bodies > 0, "no request bodies in " .. tostring(args[1]))
  -- Fewer bodies than threads (one client's secret): every thread sends them all.
  local threads = tonumber(args[2] or "1")
  if #bodies < threads then
    threads = 1
  end
  for n, body in ipairs(bodies) do
    if (n - 1) % threads == (thread_index or 0) % threads then
      requests[#requests + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Accept"] = "application/json",
      }, body)
    end
  end
  share = #requests
end

function request()
  local formatted = requests[next_request]
  next_request = next_request % #requests + 1
  sent = sent + 1
  return formatted
end

-- Latencies in microseconds. wrk counts a response with status >= 400 as errors.status;
-- connect, read, write and timeout are socket errors.
function done(summary, latency, requests)
  local e = summary.errors
  local repeated = 0
  for _, thread in ipairs(threads) do
    repeated = repeated + math.max(0, thread:get("sent") - thread:get("share"))
  end
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d repeated=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout, repeated))
end
