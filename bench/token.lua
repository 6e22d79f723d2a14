-- wrk script for bench/run.py: POSTs form-encoded token requests, cycling through the
-- bodies in the file named after `--` (one body per line), and prints the figures as one
-- machine-readable line at the end.
--
--   wrk ... -s bench/token.lua http://127.0.0.1:PORT/path -- bodies.txt

local requests = {}
local next_request = 1

-- Each request is formatted once here: formatting it anew for every request would cost
-- wrk (which shares the machine with the server) more for larger bodies.
function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      requests[#requests + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Accept"] = "application/json",
      }, line)
    end
  end
  assert(#requests > 0, "no request bodies in " .. tostring(args[1]))
end

function request()
  local formatted = requests[next_request]
  next_request = next_request % #requests + 1
  return formatted
end

-- Latencies in microseconds. wrk counts a response with status >= 400 as errors.status;
-- connect, read, write and timeout are socket errors.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
