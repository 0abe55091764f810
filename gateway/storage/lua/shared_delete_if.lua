-- Compare-and-delete of a shared value: remove it only while it still holds ARGV[3].
-- ARGV: 2 key (under P:shared:), 3 the value the caller saw.
local k = P .. ':shared:' .. ARGV[2]
if redis.call('GET', k) == ARGV[3] then return redis.call('DEL', k) end
return 0
