-- Claim one conversation for an agent. ARGV: 2 conversation, 3 agent, 4 routing version
-- ('' = whatever is current), 5 capacity (0 = unlimited), 6 now, 7 assigned-event payload,
-- 8 '1' = only from the queues 9.. (those whose skill levels the agent meets).
local cid, agent, version = ARGV[2], ARGV[3], ARGV[4]
local capacity, now = tonumber(ARGV[5]), tonumber(ARGV[6])
local k = cvk(cid)
local status = redis.call('HGET', k, 'status')
if not status then return {'not_found'} end
if status == 'resolved' then return {'resolved'} end
local current = redis.call('HGET', k, 'routing_version')
local assignee = redis.call('HGET', k, 'assignee') or ''
if version ~= '' and version ~= current then return {'stale', current, assignee} end
if not empty(assignee) then
  if assignee == agent then return {'ok', current, 'already'} end
  return {'taken', current, assignee}
end
if not may_serve(cid, 8) then return {'not_qualified', current} end
if capacity > 0 and redis.call('SCARD', P .. ':ag:' .. agent .. ':active') >= capacity then
  return {'capacity', current}
end
local _, waited = assign(cid, agent, now, ARGV[7])
return {'ok', current, '', waited}
