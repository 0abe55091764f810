-- The customer-service window is about to close with the customer still unanswered:
-- announce it and raise the conversation's priority. ARGV: 2 conversation, 3 window end
-- ms this timer was set for, 4 now, 5 event payload, 6 raised priority.
local cid, expires, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local k = cvk(cid)
local status = redis.call('HGET', k, 'status')
if not status or status == 'resolved' then return {'noop'} end
if redis.call('HGET', k, 'window_expires_at') ~= expires then return {'noop'} end
if empty(redis.call('HGET', k, 'awaiting_since')) then return {'noop'} end
raise_priority(cid, tonumber(ARGV[6]))
event('window.closing:' .. cid .. ':' .. expires, 'window.closing', ARGV[5], {
  conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'), window_expires_at_ms = expires,
  assignee = redis.call('HGET', k, 'assignee') or '', occurred_at_ms = int(now)})
return {'ok'}
