-- Store an agent/bot message (reply or internal note) and schedule its sending.
-- ARGV: 2 conversation, 3 message id, 4 message JSON, 5 now, 6 'outbound' | 'note',
-- 7 agent ('' for the bot), 8 outbound-event payload, 9 '1' = send it, 10 '1' = assign an
-- unassigned conversation to the agent, 11 assigned-event payload, 12 the agent's capacity
-- (0 = unlimited), 13 '1' = only conversations in the queues 14.. (the agent's skills).
local cid, mid, now, kind, agent = ARGV[2], ARGV[3], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local k = cvk(cid)
if not redis.call('HGET', k, 'status') then return {'not_found'} end
if ARGV[10] == '1' and agent ~= '' then
  -- The assignee answers, or any agent when unassigned: the first reply claims it, and a
  -- second agent's reply racing it is refused here, where the claim commits.
  local assignee = redis.call('HGET', k, 'assignee')
  if empty(assignee) then
    if not may_serve(cid, 13) then return {'not_qualified', ''} end
    local capacity = tonumber(ARGV[12]) or 0
    if capacity > 0 and redis.call('SCARD', P .. ':ag:' .. agent .. ':active') >= capacity then
      return {'capacity', ''}
    end
    assign(cid, agent, now, ARGV[11])
  elseif assignee ~= agent then
    return {'not_assignee', assignee}
  end
end
took_part(cid, agent)
local status = ''
if kind == 'outbound' then status = 'queued' end
redis.call('HSET', msgk(cid, mid), 'json', ARGV[4], 'conversation_id', cid, 'direction', kind,
  'status', status, 'error', '', 'external_id', '', 'attempts', '0')
redis.call('RPUSH', k .. ':msgs', mid)
redis.call('HINCRBY', k, 'message_count', 1)
redis.call('HSET', k, 'updated_at', int(now))
if kind ~= 'outbound' then return {'ok', ''} end
redis.call('HSET', k, 'last_outbound_at', int(now))
local first_ms = ''
if agent ~= '' then
  clear_pause(cid)  -- answered while paused: nothing is left to resume
  -- An agent's answer keeps the reply promise: clear the deadline, count it.
  local awaiting = redis.call('HGET', k, 'awaiting_since')
  if not empty(awaiting) then
    local reply_by = tonumber(redis.call('HGET', k, 'reply_by')) or 0
    local met = reply_by > 0 and now <= reply_by
    stat('replies'); stat('reply_ms', now - tonumber(awaiting))
    if met then stat('sla_met') else stat('sla_missed') end
    -- Kept on the reply, so a send that fails can give the deadline back.
    redis.call('HSET', msgk(cid, mid), 'answered_since', awaiting, 'answered_reply_by', int(reply_by),
      'answered_warn_by', redis.call('HGET', k, 'warn_by') or '', 'answered_ms', int(now - tonumber(awaiting)),
      'answered_met', met and '1' or '0')
    redis.call('HSET', k, 'sla_state', 'none')
    stop_clock(cid)
  end
  if empty(redis.call('HGET', k, 'first_response_at')) then
    local first = now - tonumber(redis.call('HGET', k, 'created_at'))
    redis.call('HSET', k, 'first_response_at', int(now), 'first_response_ms', int(first))
    first_ms = int(first)
    stat('first_responses'); stat('first_response_ms', first)
  end
end
if ARGV[9] == '1' then redis.call('ZADD', TIMERS, int(now), 'send|' .. cid .. '|' .. mid) end
event('message.outbound:' .. mid, 'message.outbound', ARGV[8], {
  conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'), occurred_at_ms = int(now)})
return {'ok', first_ms}
