-- Store one inbound message atomically: dedupe, contact, conversation, message,
-- reply tracking, offer and events. ARGV[2] is the plan (see IngestPlan).
local plan = cjson.decode(ARGV[2])
local now = tonumber(plan.now_ms)

local ddk = P .. ':dd:' .. plan.channel .. ':' .. plan.external_id
local seen = redis.call('GET', ddk)
if seen then return {'duplicate', seen} end

-- Back-pressure: with more entries awaiting the broker than the limit, a new message is
-- refused (the provider retries it later); a redelivery above is still answered.
local limit = tonumber(plan.outbox_limit)
if limit > 0 then
  local depth = redis.call('XLEN', P .. ':outbox')
  if depth >= limit then return {'backlogged', int(depth)} end
end

-- An optimistic plan (one round trip instead of prepare + ingest) was decided for a new
-- contact without threads. A known identity proves the guess wrong: answer what prepare
-- would have, and the caller decides again with it.
if plan.optimistic then
  for _, ik in ipairs(plan.identities) do
    if redis.call('EXISTS', P .. ':id:' .. ik) == 1 then
      return {'prepare', cjson.encode(intake_state(plan.channel, plan.endpoint, plan.by_contact,
        plan.thread_refs, plan.identities))}
    end
  end
end

-- Contact: the first identity already known decides; the others join it unless they
-- already belong to someone else (merging people is an explicit act).
local contact_id = nil
for _, ik in ipairs(plan.identities) do
  local c = redis.call('GET', P .. ':id:' .. ik)
  if c then contact_id = c; break end
end
local new_contact = 0
if not contact_id then
  contact_id = plan.new_contact_id
  new_contact = 1
  redis.call('HSET', ctk(contact_id), 'id', contact_id, 'created_at', plan.now_ms, 'name', '')
end
for _, ik in ipairs(plan.identities) do
  if redis.call('SETNX', P .. ':id:' .. ik, contact_id) == 1 then
    redis.call('SADD', ctk(contact_id) .. ':ids', ik)
  end
end
if not empty(plan.contact_name) then redis.call('HSET', ctk(contact_id), 'name', plan.contact_name) end
for name, value in pairs(plan.contact_attributes) do
  redis.call('HSET', ctk(contact_id) .. ':attrs', name, value)
end

-- Conversation: email by thread references then reply token; other channels by the
-- contact's conversation on this endpoint. Resolved ones reopen within the window.
local cid = nil
for _, ref in ipairs(plan.thread_refs) do
  local c = redis.call('GET', P .. ':thr:' .. ref)
  if c then cid = c; break end
end
if not cid and not empty(plan.thread_conversation_id) then
  if redis.call('EXISTS', cvk(plan.thread_conversation_id)) == 1 then cid = plan.thread_conversation_id end
end
local pointer = nil
if plan.by_contact then
  pointer = P .. ':open:' .. contact_id .. ':' .. plan.channel .. ':' .. plan.endpoint
  if not cid then cid = redis.call('GET', pointer) end
end
local state = 'existing'
if cid then
  local status = redis.call('HGET', cvk(cid), 'status')
  if not status then
    cid = nil
  elseif status == 'resolved' and plan.opens then
    local resolved_at = tonumber(redis.call('HGET', cvk(cid), 'resolved_at')) or 0
    if now - resolved_at <= tonumber(plan.reopen_window_ms) then state = 'reopened' else cid = nil end
  end
  -- A message that needs no answer (a reaction, an auto-reply) joins the conversation
  -- as it is: it neither reopens a resolved one nor wakes a pending one. A request the
  -- bot answers (`opens` without `route`) does, without an offer.
end

local k
local inbound_sent = false
if not cid then
  cid = plan.new_conversation_id
  state = 'new'
  k = cvk(cid)
  redis.call('HSET', k, 'id', cid, 'contact_id', contact_id, 'channel', plan.channel,
    'endpoint', plan.endpoint, 'subject', plan.subject, 'created_at', plan.now_ms,
    'updated_at', plan.now_ms, 'routing_version', '0', 'target_index', '0',
    'priority', int(plan.priority), 'sla_state', 'none', 'reply_seq', '0', 'message_count', '0',
    'sla_breaches', '0')
  set_status(cid, nil, 'open')
  redis.call('ZADD', P .. ':idx:all', plan.now_ms, cid)
  redis.call('ZADD', ctk(contact_id) .. ':convs', plan.now_ms, cid)
  outbox('conversation.opened:' .. cid, 'gateway.events', 'conversation.opened', 0, plan.events.opened,
    {conversation_id = cid, contact_id = contact_id, occurred_at_ms = plan.now_ms})
  -- broker.inbound_in_opened: the template carries the message, so no message.inbound.
  inbound_sent = plan.inbound_in_opened
else
  k = cvk(cid)
  local status = redis.call('HGET', k, 'status')
  if state == 'reopened' then
    local assignee = redis.call('HGET', k, 'assignee')
    if not empty(assignee) then redis.call('SREM', P .. ':ag:' .. assignee .. ':active', cid) end
    redis.call('HSET', k, 'resolved_at', '', 'assignee', '', 'claimed_at', '')
    local q = redis.call('HGET', k, 'queue')
    if not empty(q) then redis.call('ZADD', P .. ':idx:q:' .. q, redis.call('HGET', k, 'created_at'), cid) end
    outbox('conversation.reopened:' .. cid .. ':' .. plan.message_id, 'gateway.events', 'conversation.reopened', 0,
      plan.events.reopened, {conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'),
      occurred_at_ms = plan.now_ms})
  end
  if plan.opens then set_status(cid, status, 'open') end
end
if pointer then
  redis.call('SET', pointer, cid)
  redis.call('SADD', ctk(contact_id) .. ':ptrs', pointer)
end
local conv_contact = redis.call('HGET', k, 'contact_id')

-- The message.
redis.call('HSET', msgk(cid, plan.message_id), 'json', plan.message_json, 'conversation_id', cid,
  'direction', 'inbound', 'status', '', 'error', '', 'external_id', plan.external_id)
redis.call('RPUSH', k .. ':msgs', plan.message_id)
redis.call('HINCRBY', k, 'message_count', 1)
redis.call('HSET', k, 'last_inbound_at', plan.received_ms, 'updated_at', plan.now_ms)
if not empty(plan.preview) then redis.call('HSET', k, 'preview', plan.preview) end
for _, ref in ipairs(plan.own_thread_ids) do
  redis.call('SET', P .. ':thr:' .. ref, cid)
  redis.call('SADD', k .. ':threads', ref)
end
local created = redis.call('HGET', k, 'created_at')
for _, term in ipairs(plan.search_terms) do redis.call('ZADD', P .. ':sx:' .. term, created, cid) end
for name, value in pairs(plan.conversation_attributes) do redis.call('HSET', k .. ':attrs', name, value) end
for _, flag in ipairs(plan.flags_add) do redis.call('SADD', k .. ':flags', flag) end
for _, flag in ipairs(plan.flags_remove) do redis.call('SREM', k .. ':flags', flag) end
for _, t in ipairs(plan.timers) do
  redis.call('ZADD', TIMERS, int(now + tonumber(t[3])), t[1] .. '|' .. cid .. '|' .. t[2])
end
if empty(redis.call('HGET', k, 'subject')) and not empty(plan.subject) then redis.call('HSET', k, 'subject', plan.subject) end

-- The customer-service window moves with every customer message, never backwards.
local win = tonumber(plan.window_expires_ms)
if win > 0 and win > (tonumber(redis.call('HGET', k, 'window_expires_at')) or 0) then
  redis.call('HSET', k, 'window_expires_at', int(win))
  redis.call('ZADD', TIMERS, plan.window_warn_ms, 'window_closing|' .. cid .. '|' .. int(win))
end

-- Reply tracking: the first unanswered customer message arms the deadline.
if plan.route and tonumber(plan.reply_by_ms) > 0 and empty(redis.call('HGET', k, 'awaiting_since')) then
  arm_or_resume(cid, tonumber(plan.received_ms), tonumber(plan.reply_by_ms), tonumber(plan.warn_ms))
end

-- One offer per conversation that needs an agent, not one per message.
local offered = 0
if plan.route and empty(redis.call('HGET', k, 'assignee')) and empty(redis.call('HGET', k, 'waiting_since'))
    and plan.hold then
  -- Held for verification: the decision and its queue are kept (who may read and claim it
  -- follows the queue, as for an offer), the offer goes once verification settles.
  redis.call('HSET', k, 'routing', plan.decision_json, 'queue', plan.queue, 'priority', int(plan.priority))
  redis.call('ZADD', P .. ':idx:q:' .. plan.queue, redis.call('HGET', k, 'created_at'), cid)
elseif plan.route and empty(redis.call('HGET', k, 'assignee')) and empty(redis.call('HGET', k, 'waiting_since')) then
  local reason = 'new'
  if state == 'reopened' then reason = 'reopened' end
  offer(cid, plan.queue, plan.priority, reason, now, plan.decision_json, 0, plan.escalate_after_ms, plan.events.offer, false)
  offered = 1
end

if not inbound_sent then
  outbox('message.inbound:' .. plan.message_id, 'gateway.events', 'message.inbound', 0, plan.events.inbound,
    {conversation_id = cid, contact_id = conv_contact, occurred_at_ms = plan.now_ms})
end

local result = cid .. '|' .. plan.message_id .. '|' .. conv_contact
redis.call('SET', ddk, result, 'PX', plan.dedupe_ttl_ms)
return {state, result, int(offered), int(new_contact)}
