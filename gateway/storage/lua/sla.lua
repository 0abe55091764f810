-- Reply-tracking warning or breach, at most once per armed deadline.
-- ARGV: 2 'warn' | 'breach', 3 conversation, 4 deadline sequence, 5 now, 6 event payload,
-- 7 queue for the breach offer ('' = none), 8 its priority (for 'warn': how much the
-- priority rises, 0 = not at all), 9 offer payload.
local kind, cid, seq, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local k = cvk(cid)
if not redis.call('HGET', k, 'status') then return {'noop'} end
if redis.call('HGET', k, 'reply_seq') ~= seq or empty(redis.call('HGET', k, 'awaiting_since')) then return {'noop'} end
local state = redis.call('HGET', k, 'sla_state')
local fields = {conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'),
  reply_by_ms = redis.call('HGET', k, 'reply_by'), awaiting_since_at_ms = redis.call('HGET', k, 'awaiting_since'),
  assignee = redis.call('HGET', k, 'assignee') or '', queue = redis.call('HGET', k, 'queue') or '',
  occurred_at_ms = int(now)}
if kind == 'warn' then
  if state ~= 'active' then return {'noop'} end
  redis.call('HSET', k, 'sla_state', 'warning')
  local rise = tonumber(ARGV[8]) or 0
  if rise > 0 then
    raise_priority(cid, math.min(9, (tonumber(redis.call('HGET', k, 'priority')) or 0) + rise))
  end
  stat('sla_warnings')
  event('sla.warning:' .. cid .. ':' .. seq, 'sla.warning', ARGV[6], fields)
  return {'ok'}
end
if state == 'breached' then return {'noop'} end
redis.call('HSET', k, 'sla_state', 'breached')
redis.call('HINCRBY', k, 'sla_breaches', 1)
stat('sla_breaches')
event('sla.breached:' .. cid .. ':' .. seq, 'sla.breached', ARGV[6], fields)
if ARGV[7] ~= '' then
  offer(cid, ARGV[7], tonumber(ARGV[8]), 'sla_breach', now, nil,
    tonumber(redis.call('HGET', k, 'target_index')) or 0, 0, ARGV[9], false)
end
return {'ok'}
