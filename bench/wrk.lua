-- wrk script of the API bench (bench/run.py runs it; see there).
--
-- BENCH_MODE=post: POST /api/v1/complaints with a random point near one of the
--   points listed in the file BENCH_POINTS (a Lua file returning {{lon, lat}, ...}),
--   jittered by up to ~100 m, and a random subclass of BENCH_SUBCLASSES (comma list).
-- BENCH_MODE=get: GET the URL's path as is (the bare SELECT 1 endpoint).
-- BENCH_MAX_REQUESTS: stop after this many responses (per thread; 0 = no limit).
-- At the end one JSON line with counts and latency percentiles (microseconds).

local mode = os.getenv("BENCH_MODE") or "get"
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
local points = {}
local subclasses = {}
local count = 0
local bad = 0

if mode == "post" then
  points = dofile(os.getenv("BENCH_POINTS"))
  for code in string.gmatch(os.getenv("BENCH_SUBCLASSES") or "0101", "[^,]+") do
    subclasses[#subclasses + 1] = code
  end
end

function setup(thread)
  thread:set("id", tostring(thread))
end

function init(args)
  local seed = 0
  for i = 1, #id do seed = (seed * 31 + string.byte(id, i)) % 2147483647 end
  math.randomseed(seed)
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  if mode ~= "post" then
    return wrk.format("GET")
  end
  local p = points[math.random(#points)]
  local lon = p[1] + (math.random() - 0.5) * 0.002
  local lat = p[2] + (math.random() - 0.5) * 0.002
  local sub = subclasses[math.random(#subclasses)]
  local body = string.format(
    '{"lon":%.6f,"lat":%.6f,"crs":"wgs84","subclass":"%s",' ..
    '"description":"bench: 压测投诉","address":"压测地址"}', lon, lat, sub)
  return wrk.format("POST", "/api/v1/complaints", headers, body)
end

function response(status, hdrs, body)
  count = count + 1
  if status >= 300 then bad = bad + 1 end
  if max_requests > 0 and count >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
