-- Count one attempt against a limit shared by every gateway process (a fixed window).
-- ARGV: 2 key, 3 limit, 4 window ms. Returns {1, 0} when allowed, else {0, ms until the
-- window ends}.
local key = P .. ':rate:' .. ARGV[2]
local count = redis.call('INCR', key)
if count == 1 then redis.call('PEXPIRE', key, ARGV[4]) end
if count > tonumber(ARGV[3]) then
  local left = redis.call('PTTL', key)
  if left < 0 then redis.call('PEXPIRE', key, ARGV[4]); left = tonumber(ARGV[4]) end
  return {0, left}
end
return {1, 0}
