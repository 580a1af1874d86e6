-- wrk's side of `make bench --wrk`: the closed-loop scenarios through a C load generator whose
-- own CPU per request is close to pgbench's. Arguments after `--`: the mode ("pairs" or
-- "balance"), a file of customer ids to take in turn (already drawn with the bench's Zipf skew,
-- or customer 1 alone for the hot account), the API key, the points a hold reserves, and a token
-- that makes this run's Idempotency-Keys and receipts unique.
--
-- A pair is a reserve and then the commit of the hold it answered: each thread keeps the holds
-- it was given and commits one before it reserves again, so with several connections a thread
-- interleaves pairs but completes every one it starts (wrk calls request() for whichever
-- connection is ready, so a hold is not tied to the connection that reserved it).
-- At the end, one line starting "WRK " gives the counts and the latency percentiles as JSON
-- (only the percentiles: each lookup in wrk's histogram walks it, so reading every value back
-- would cost wrk more CPU at the end than the whole run).

local threads = {}

function setup(thread)
    thread:set("thread_number", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    mode, key, points, token = args[1], args[2], args[4], args[5]
    customers = {}
    for line in io.lines(args[3]) do
        customers[#customers + 1] = line
    end
    -- Each thread starts at its own place in the drawn sequence.
    position = (thread_number * 7919) % #customers
    serial, pending = 0, {}
    tasks, refused = 0, 0
    authorization = "Bearer " .. key
end

local function next_customer()
    position = position % #customers + 1
    return customers[position]
end

function request()
    if mode == "balance" then
        return wrk.format("GET", "/v1/customers/" .. next_customer() .. "/balance",
                          {["Authorization"] = authorization})
    end
    serial = serial + 1
    local unique = token .. "-" .. thread_number .. "-" .. serial
    local headers = {
        ["Authorization"] = authorization,
        ["Content-Type"] = "application/json",
        ["Idempotency-Key"] = unique,
    }
    local hold = table.remove(pending)
    if hold then
        return wrk.format("POST", "/v1/holds/" .. hold .. "/commit", headers, "{}")
    end
    local body = '{"points":' .. points .. ',"document":{"id":"' .. unique .. '"}}'
    return wrk.format("POST", "/v1/customers/" .. next_customer() .. "/holds", headers, body)
end

function response(status, headers, body)
    if mode == "balance" then
        if status == 200 then tasks = tasks + 1 else refused = refused + 1 end
    elseif status == 201 then
        pending[#pending + 1] = body:match('^{"id":"([^"]+)"')
    elseif status == 200 then
        tasks = tasks + 1
    else
        refused = refused + 1
    end
end

function done(summary, latency, requests)
    local done_tasks, done_refused = 0, 0
    for _, thread in ipairs(threads) do
        done_tasks = done_tasks + thread:get("tasks")
        done_refused = done_refused + thread:get("refused")
    end
    local percentiles = {}
    for _, percent in ipairs({50, 90, 99, 99.9}) do
        percentiles[#percentiles + 1] = string.format('"%s":%d', percent,
                                                      latency:percentile(percent))
    end
    local errors = summary.errors
    io.write(string.format(
        'WRK {"duration_us":%d,"requests":%d,"tasks":%d,"refused":%d,"transport_errors":%d,'
            .. '"percentiles_us":{%s}}\n',
        summary.duration, summary.requests, done_tasks, done_refused,
        errors.connect + errors.read + errors.write + errors.timeout,
        table.concat(percentiles, ",")))
end
