-- Shared helpers, prepended to every script. ARGV[1] is the key prefix.
-- Scripts address keys they discover while running (a conversation found through a
-- pointer), so they need a standalone Redis; conversation keys carry a {hash tag} so a
-- cluster layout can later group them by slot.
local P = ARGV[1]
local function cvk(id) return P .. ':cv:{' .. id .. '}' end
local function ctk(id) return P .. ':ct:{' .. id .. '}' end
local function msgk(cid, mid) return cvk(cid) .. ':m:' .. mid end
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
  if not empty(q) then redis.call('ZREM', P .. ':wait:' .. q, cid) end
  redis.call('HSET', k, 'waiting_since', '')
end

-- Offer the conversation on `queue`: new routing version, waiting set, escalation timer,
-- outbox entry. `decision` may be nil to keep the stored one.
local function offer(cid, queue, priority, reason, now, decision, target_index, escalate_after, payload)
  local k = cvk(cid)
  local old_q = redis.call('HGET', k, 'queue')
  if not empty(old_q) then
    redis.call('ZREM', P .. ':wait:' .. old_q, cid)
    if old_q ~= queue then redis.call('ZREM', P .. ':idx:q:' .. old_q, cid) end
  end
  local version = redis.call('HINCRBY', k, 'routing_version', 1)
  if decision then redis.call('HSET', k, 'routing', decision) end
  redis.call('HSET', k, 'queue', queue, 'priority', int(priority), 'target_index', int(target_index),
    'waiting_since', int(now), 'assignee', '', 'claimed_at', '')
  local reply_by = redis.call('HGET', k, 'reply_by')
  redis.call('ZADD', P .. ':idx:q:' .. queue, redis.call('HGET', k, 'created_at'), cid)
  redis.call('ZADD', P .. ':wait:' .. queue, wait_score(priority, reply_by, now), cid)
  if tonumber(escalate_after) > 0 then
    redis.call('ZADD', TIMERS, int(now + tonumber(escalate_after)), 'escalate|' .. cid .. '|' .. int(version))
  end
  outbox('offer:' .. cid .. ':' .. int(version), 'gateway.work', queue, priority, payload, {
    conversation_id = cid, contact_id = redis.call('HGET', k, 'contact_id'),
    routing_version = int(version), reason = reason, queue = queue, priority = int(priority),
    reply_by_ms = reply_by or '', created_at_ms = int(now)})
  return version
end
