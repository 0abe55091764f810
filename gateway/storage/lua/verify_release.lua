-- Offer a conversation held for verification (the customer's identity is now verified, or
-- verification failed): on the queue its stored routing decision names, once — the hold
-- flag goes in the same step. ARGV: 2 conversation, 3 now, 4 offer payload, 5 escalate
-- after ms. Returns {'ok', version} or {reason}: not_held, resolved, already.
local cid = ARGV[2]
local k = cvk(cid)
if redis.call('SREM', k .. ':flags', 'verification_hold') == 0 then return {'not_held'} end
local status = redis.call('HGET', k, 'status')
if not status or status == 'resolved' then return {'resolved'} end
if not empty(redis.call('HGET', k, 'assignee')) or not empty(redis.call('HGET', k, 'waiting_since')) then
  return {'already'}
end
local decision = cjson.decode(redis.call('HGET', k, 'routing'))
local version = offer(cid, decision.queue, tonumber(decision.priority), 'new', tonumber(ARGV[3]), nil, 0,
  tonumber(ARGV[5]), ARGV[4], false)
return {'ok', int(version)}
