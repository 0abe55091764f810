-- Add to named counters of the stats hash, at most once per `once` key.
-- ARGV: 2 once key ('' = always count), 3 its lifetime in ms, 4.. name, amount pairs.
if ARGV[2] ~= '' then
  if not redis.call('SET', P .. ':once:' .. ARGV[2], '1', 'NX', 'PX', ARGV[3]) then return 0 end
end
for i = 4, #ARGV, 2 do stat(ARGV[i], tonumber(ARGV[i + 1])) end
return 1
