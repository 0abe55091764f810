-- Claim the best waiting conversation among `queues` (higher priority, nearer reply-by,
-- longer wait). ARGV: 2 agent, 3 capacity, 4 now, 5 queues (JSON list), 6 assigned payload.
local agent, capacity, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local queues = cjson.decode(ARGV[5])
if capacity > 0 and redis.call('SCARD', P .. ':ag:' .. agent .. ':active') >= capacity then
  return {'capacity'}
end
for _ = 1, 100 do
  local best, best_score, best_q = nil, nil, nil
  for _, q in ipairs(queues) do
    local top = redis.call('ZRANGE', P .. ':wait:' .. q, 0, 0, 'WITHSCORES')
    if top[1] and (best_score == nil or tonumber(top[2]) < best_score) then
      best, best_score, best_q = top[1], tonumber(top[2]), q
    end
  end
  if not best then return {'empty'} end
  local k = cvk(best)
  local status = redis.call('HGET', k, 'status')
  if status and status ~= 'resolved' and empty(redis.call('HGET', k, 'assignee'))
      and redis.call('HGET', k, 'queue') == best_q then
    local version, waited = assign(best, agent, now, ARGV[6])
    return {'ok', best, version, waited}
  end
  -- An entry that no longer matches its conversation: drop it and look again.
  redis.call('ZREM', P .. ':wait:' .. best_q, best)
  redis.call('ZREM', P .. ':waitage:' .. best_q, best)
end
return {'empty'}
