-- Resolve a conversation. ARGV: 2 conversation, 3 by, 4 now, 5 resolved-event payload.
local cid, now = ARGV[2], tonumber(ARGV[4])
local k = cvk(cid)
local status = redis.call('HGET', k, 'status')
if not status then return {'not_found'} end
if status == 'resolved' then return {'already'} end
local assignee = redis.call('HGET', k, 'assignee')
if not empty(assignee) then redis.call('SREM', P .. ':ag:' .. assignee .. ':active', cid) end
if tonumber(redis.call('HGET', k, 'routing_version')) > 0 and empty(redis.call('HGET', k, 'ever_claimed')) then
  stat('abandoned')
end
unwait(cid)
local q = redis.call('HGET', k, 'queue')
if not empty(q) then redis.call('ZREM', P .. ':idx:q:' .. q, cid) end
redis.call('HSET', k, 'resolved_at', int(now), 'updated_at', int(now))
stop_clock(cid)
clear_pause(cid)
set_status(cid, status, 'resolved')
event('conversation.resolved:' .. cid .. ':' .. int(now), 'conversation.resolved', ARGV[5], {
  conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'), by = ARGV[3],
  assignee = assignee or '', occurred_at_ms = int(now)})
return {'ok'}
