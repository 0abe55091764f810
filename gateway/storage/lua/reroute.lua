-- Offer a conversation again (transfer, timed escalation, SLA breach), conditionally.
-- ARGV: 2 conversation, 3 expected routing version ('' = any), 4 '1' = only if unassigned,
-- 5 queue, 6 priority, 7 reason, 8 now, 9 decision JSON ('' = keep), 10 target index,
-- 11 escalate after ms, 12 offer payload, 13 '1' = keep the wait start.
local cid = ARGV[2]
local k = cvk(cid)
local status = redis.call('HGET', k, 'status')
if not status then return {'not_found'} end
if status == 'resolved' then return {'resolved'} end
local current = redis.call('HGET', k, 'routing_version')
if ARGV[3] ~= '' and ARGV[3] ~= current then return {'stale', current} end
if ARGV[4] == '1' and not empty(redis.call('HGET', k, 'assignee')) then return {'taken', current} end
local decision = nil
if ARGV[9] ~= '' then decision = ARGV[9] end
local version = offer(cid, ARGV[5], tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8]), decision,
  tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12], ARGV[13] == '1')
return {'ok', int(version)}
