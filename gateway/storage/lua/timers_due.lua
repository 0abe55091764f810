-- Lease due timers: each due member is pushed `lease` ms ahead, so exactly one scanner
-- gets it now; the handler removes it when done, or its lease runs out and it comes back.
-- ARGV: 2 now, 3 limit, 4 lease ms. Cost: O(log N + due), whatever the number of timers.
local now, lease = tonumber(ARGV[2]), tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', TIMERS, '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do redis.call('ZADD', TIMERS, 'XX', int(now + lease), due[i]) end
return due
