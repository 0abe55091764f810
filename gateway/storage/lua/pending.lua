-- Waiting on the customer: the reply clock pauses until the customer writes again.
-- ARGV: 2 conversation, 3 now.
local cid, now = ARGV[2], tonumber(ARGV[3])
local k = cvk(cid)
local status = redis.call('HGET', k, 'status')
if not status then return {'not_found'} end
if status == 'resolved' then return {'resolved'} end
if empty(redis.call('HGET', k, 'assignee')) then unwait(cid) end
redis.call('HSET', k, 'updated_at', int(now))
pause_clock(cid, now)
set_status(cid, status, 'pending')
return {'ok'}
