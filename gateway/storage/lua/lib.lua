-- Shared helpers, prepended to every script. ARGV[1] is the key prefix.
-- Scripts address keys they discover while running (a conversation found through a
-- pointer), so they need a standalone Redis; conversation keys carry a {hash tag} so a
-- cluster layout can later group them by slot.
local P = ARGV[1]
local function cvk(id) return P .. ':cv:{' .. id .. '}' end
local function ctk(id) return P .. ':ct:{' .. id .. '}' end
local function msgk(cid, mid) return cvk(cid) .. ':m:' .. mid end
local function casek(num) return P .. ':case:{' .. num .. '}' end
local function empty(v) return v == false or v == nil or v == '' or v == cjson.null end
local function int(n) return string.format('%d', n) end
local TIMERS = P .. ':timers'

local function outbox(mid, exchange, rk, prio, payload, fields)
  redis.call('XADD', P .. ':outbox', '*', 'mid', mid, 'ex', exchange, 'rk', rk,
    'pr', int(prio), 'payload', payload, 'fields', cjson.encode(fields))
end

-- Move a conversation between status indexes (zsets scored by creation time).
local function set_status(cid, old, new)
  local k = cvk(cid)
  if old == new then return end
  local created = redis.call('HGET', k, 'created_at')
  if not empty(old) then redis.call('ZREM', P .. ':idx:st:' .. old, cid) end
  redis.call('ZADD', P .. ':idx:st:' .. new, created, cid)
  redis.call('HSET', k, 'status', new)
end

-- Waiting order inside a queue: higher priority first, then the nearest reply-by
-- deadline (deadline-driven), then the longest wait.
local function wait_score(priority, reply_by, since)
  local t = tonumber(reply_by) or 0
  if t == 0 then t = tonumber(since) end
  return (9 - tonumber(priority)) * 10000000000000 + t
end

-- Take a conversation out of the waiting set of its current queue (claimed, resolved,
-- re-routed); it stays in the queue index while it is not resolved.
local function unwait(cid)
  local k = cvk(cid)
  local q = redis.call('HGET', k, 'queue')
  if not empty(q) then
    redis.call('ZREM', P .. ':wait:' .. q, cid)
    redis.call('ZREM', P .. ':waitage:' .. q, cid)
  end
  redis.call('HSET', k, 'waiting_since', '')
end

-- Raise a conversation's priority (never lower it), in its waiting set too, so `next`
-- serves it sooner; an offer already on RabbitMQ keeps its own priority.
local function raise_priority(cid, priority)
  local k = cvk(cid)
  if priority <= (tonumber(redis.call('HGET', k, 'priority')) or 0) then return end
  redis.call('HSET', k, 'priority', int(priority))
  local since = redis.call('HGET', k, 'waiting_since')
  local q = redis.call('HGET', k, 'queue')
  if not empty(since) and not empty(q) then
    redis.call('ZADD', P .. ':wait:' .. q, wait_score(priority, redis.call('HGET', k, 'reply_by'), since), cid)
  end
end

-- Offer the conversation on `queue`: new routing version, waiting set, escalation timer,
-- outbox entry. `decision` may be nil to keep the stored one. An escalation keeps the
-- wait start (timeouts count from it); any other offer starts a new wait.
local function offer(cid, queue, priority, reason, now, decision, target_index, escalate_after, payload, keep_wait)
  local k = cvk(cid)
  local since = now
  local old_since = redis.call('HGET', k, 'waiting_since')
  if keep_wait and not empty(old_since) then since = tonumber(old_since) end
  local old_q = redis.call('HGET', k, 'queue')
  if not empty(old_q) then
    redis.call('ZREM', P .. ':wait:' .. old_q, cid)
    redis.call('ZREM', P .. ':waitage:' .. old_q, cid)
    if old_q ~= queue then redis.call('ZREM', P .. ':idx:q:' .. old_q, cid) end
  end
  local assignee = redis.call('HGET', k, 'assignee')
  if not empty(assignee) then redis.call('SREM', P .. ':ag:' .. assignee .. ':active', cid) end
  local version = redis.call('HINCRBY', k, 'routing_version', 1)
  if decision then redis.call('HSET', k, 'routing', decision) end
  redis.call('HSET', k, 'queue', queue, 'priority', int(priority), 'target_index', int(target_index),
    'waiting_since', int(since), 'assignee', '', 'claimed_at', '')
  local reply_by = redis.call('HGET', k, 'reply_by')
  redis.call('ZADD', P .. ':idx:q:' .. queue, redis.call('HGET', k, 'created_at'), cid)
  redis.call('ZADD', P .. ':wait:' .. queue, wait_score(priority, reply_by, since), cid)
  redis.call('ZADD', P .. ':waitage:' .. queue, int(since), cid)
  if reason == 'new' or reason == 'reopened' then redis.call('HINCRBY', P .. ':stats', 'offered', 1) end
  if tonumber(escalate_after) > 0 then
    redis.call('ZADD', TIMERS, int(now + tonumber(escalate_after)), 'escalate|' .. cid .. '|' .. int(version))
  end
  if reason == 'escalated' or reason == 'transferred' then
    -- Other systems (and the console) hear of a re-route on gateway.events too.
    outbox('conversation.' .. reason .. ':' .. cid .. ':' .. int(version), 'gateway.events',
      'conversation.' .. reason, 0, '{"type":"conversation.' .. reason .. '"}', {
        conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'), queue = queue,
        priority = int(priority), routing_version = int(version), previous_queue = old_q or '',
        previous_assignee = assignee or '', occurred_at_ms = int(now)})
  end
  outbox('offer:' .. cid .. ':' .. int(version), 'gateway.work', queue, priority, payload, {
    conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'),
    routing_version = int(version), reason = reason, queue = queue, priority = int(priority),
    reply_by_ms = reply_by or '', created_at_ms = int(now)})
  return version
end

-- Record an event on gateway.events.
local function event(mid, rk, payload, fields)
  outbox(mid, 'gateway.events', rk, 0, payload, fields)
end

local function stat(name, by)
  redis.call('HINCRBY', P .. ':stats', name, by or 1)
end

-- Remember that `agent` took part in the conversation (held it or wrote in it): the
-- field `agents` reads '|alice|bob|'. Agents may read what they took part in.
local function took_part(cid, agent)
  if empty(agent) then return end
  local k = cvk(cid)
  local seen = redis.call('HGET', k, 'agents')
  if empty(seen) then seen = '|' end
  if not string.find(seen, '|' .. agent .. '|', 1, true) then
    redis.call('HSET', k, 'agents', seen .. agent .. '|')
  end
end

-- Assign to `agent` (the claim is the commit point: storage holds the truth).
local function assign(cid, agent, now, payload)
  local k = cvk(cid)
  took_part(cid, agent)
  local since = redis.call('HGET', k, 'waiting_since')
  local version = redis.call('HGET', k, 'routing_version')
  unwait(cid)
  redis.call('HSET', k, 'assignee', agent, 'claimed_at', int(now), 'updated_at', int(now), 'ever_claimed', '1')
  redis.call('SADD', P .. ':ag:' .. agent .. ':active', cid)
  local waited = ''
  if not empty(since) then
    waited = int(now - tonumber(since))
    stat('claimed'); stat('claim_wait_ms', tonumber(waited))
  end
  event('conversation.assigned:' .. cid .. ':' .. version .. ':' .. agent, 'conversation.assigned', payload, {
    conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'), agent = agent,
    routing_version = version, waited_ms = waited, occurred_at_ms = int(now)})
  return version, waited
end

-- Whether an agent may take the conversation, given the queues they serve: ARGV[from]
-- '1' restricts to the names in ARGV[from+1..], anything else allows any queue. An
-- unrouted conversation (no queue) any agent may take.
local function may_serve(cid, from)
  if ARGV[from] ~= '1' then return true end
  local q = redis.call('HGET', cvk(cid), 'queue')
  if empty(q) then return true end
  for i = from + 1, #ARGV do
    if ARGV[i] == q then return true end
  end
  return false
end

-- Delivery states in forward-only order; failed/undelivered are final.
local STATUS_RANK = {queued = 0, sending = 1, sent = 2, undelivered = 3, failed = 3, delivered = 4, read = 5}
local function moves_forward(current, new)
  if empty(current) then return true end
  if current == 'failed' or current == 'undelivered' then return false end
  return (STATUS_RANK[new] or -1) > (STATUS_RANK[current] or -1)
end

-- The reply clock stops (answered, resolved, waiting on the customer). A breached
-- deadline that ends without an agent's reply counts against SLA attainment.
local function stop_clock(cid)
  local k = cvk(cid)
  if not empty(redis.call('HGET', k, 'awaiting_since')) and redis.call('HGET', k, 'sla_state') == 'breached' then
    stat('sla_unanswered')
  end
  redis.call('HSET', k, 'awaiting_since', '', 'reply_by', '', 'warn_by', '')
  redis.call('ZREM', P .. ':idx:awaiting', cid)
  if redis.call('HGET', k, 'sla_state') ~= 'breached' then redis.call('HSET', k, 'sla_state', 'none') end
end

-- Arm the reply clock: warning and breach timers under a fresh deadline sequence.
local function arm_clock(cid, since, reply_by, warn_by, now)
  local k = cvk(cid)
  local seq = redis.call('HINCRBY', k, 'reply_seq', 1)
  local state = 'active'
  if warn_by <= now then state = 'warning' end  -- its warning is past: the breach is next
  redis.call('HSET', k, 'awaiting_since', int(since), 'reply_by', int(reply_by), 'warn_by', int(warn_by),
    'sla_state', state)
  redis.call('ZADD', P .. ':idx:awaiting', reply_by, cid)
  if state == 'active' then redis.call('ZADD', TIMERS, warn_by, 'sla_warn|' .. cid .. '|' .. int(seq)) end
  redis.call('ZADD', TIMERS, reply_by, 'sla_breach|' .. cid .. '|' .. int(seq))
end

-- Pending pauses the clock: what was left of the deadline (and of its warning; -1 when
-- the warning has fired) is kept, and the customer's next message resumes it. A breached
-- deadline is not paused; it ends (and counts as unanswered).
local function pause_clock(cid, now)
  local k = cvk(cid)
  local state = redis.call('HGET', k, 'sla_state')
  if not empty(redis.call('HGET', k, 'awaiting_since')) and (state == 'active' or state == 'warning') then
    local reply_by = tonumber(redis.call('HGET', k, 'reply_by')) or now
    local warn_by = tonumber(redis.call('HGET', k, 'warn_by')) or reply_by
    local warn_left = math.max(0, warn_by - now)
    if state == 'warning' then warn_left = -1 end
    redis.call('HSET', k, 'paused_left', int(math.max(0, reply_by - now)), 'paused_warn_left', int(warn_left))
  end
  stop_clock(cid)
end

local function clear_pause(cid)
  redis.call('HSET', cvk(cid), 'paused_left', '', 'paused_warn_left', '')
end

-- Arm the clock for a customer message received at `received`: the rest of a paused
-- deadline when there is one, else a fresh one (`reply_by`, `warn_by`).
local function arm_or_resume(cid, received, reply_by, warn_by)
  local k = cvk(cid)
  local left = redis.call('HGET', k, 'paused_left')
  if empty(left) then
    arm_clock(cid, received, reply_by, warn_by, -1)
    return
  end
  local warn_left = tonumber(redis.call('HGET', k, 'paused_warn_left')) or 0
  clear_pause(cid)
  arm_clock(cid, received, received + tonumber(left), received + warn_left, received - 1)
end

-- An agent's reply that ends failed or undelivered did not keep the promise: the
-- deadline it cleared comes back (once), unless the conversation is resolved or an
-- earlier unanswered message already holds the clock; the reply's count is undone.
local function rearm_after_failure(cid, mid, now)
  local mk = msgk(cid, mid)
  local since = redis.call('HGET', mk, 'answered_since')
  if empty(since) then return end
  redis.call('HSET', mk, 'answered_since', '')
  local k = cvk(cid)
  if redis.call('HGET', k, 'status') == 'resolved' then return end
  local current = redis.call('HGET', k, 'awaiting_since')
  if not empty(current) and tonumber(current) <= tonumber(since) then return end
  local reply_by = tonumber(redis.call('HGET', mk, 'answered_reply_by'))
  local warn_by = tonumber(redis.call('HGET', mk, 'answered_warn_by')) or reply_by
  stat('replies', -1); stat('reply_ms', -tonumber(redis.call('HGET', mk, 'answered_ms')))
  if redis.call('HGET', mk, 'answered_met') == '1' then stat('sla_met', -1) else stat('sla_missed', -1) end
  arm_clock(cid, tonumber(since), reply_by, warn_by, now)
end


-- Before routing: who is the contact, and in which state is the conversation the message
-- would join (prepare.lua; ingest.lua when its optimistic guess was wrong). `refs` is the
-- list of thread references, `ids` the identity keys (primary first). A table for cjson.
local function intake_state(channel, endpoint, by_contact, refs, ids)
  local out = {}
  local contact = nil
  for _, ik in ipairs(ids) do
    local c = redis.call('GET', P .. ':id:' .. ik)
    if c then contact = c; break end
  end
  local cid = nil
  for _, ref in ipairs(refs) do
    cid = redis.call('GET', P .. ':thr:' .. ref)
    if cid then break end
  end
  if contact then
    out.contact = contact
    out.attrs = redis.call('HGETALL', ctk(contact) .. ':attrs')
    if not cid and by_contact then
      cid = redis.call('GET', P .. ':open:' .. contact .. ':' .. channel .. ':' .. endpoint)
    end
  end
  if cid then
    local k = cvk(cid)
    local h = redis.call('HMGET', k, 'status', 'assignee', 'waiting_since', 'resolved_at', 'routing_version')
    if h[1] then
      out.conversation = {id = cid, status = h[1], assignee = h[2] or '', waiting_since = h[3] or '',
        resolved_at = h[4] or '', routing_version = h[5] or '0',
        flags = redis.call('SMEMBERS', k .. ':flags'), attrs = redis.call('HGETALL', k .. ':attrs')}
    end
  end
  return out
end
