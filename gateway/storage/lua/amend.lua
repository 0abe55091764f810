-- A customer changes a message they sent: an edit (new text, maybe new attachments) or a
-- deletion, found by (channel, provider id) through its dedupe record and applied once.
-- ARGV: 2 channel, 3 the change's own provider id (its dedupe key), 4 the changed
-- message's provider id, 5 the sender's identity key, 6 'edited' | 'deleted', 7 new text,
-- 8 new attachments JSON ('' = unchanged), 9 when the customer changed it (ms), 10 now,
-- 11 dedupe TTL ms, 12 event payload.
-- Returns {'ok'|'stale'|'duplicate'|'not_found', conversation, message}.
local channel, change, target, ik, action = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ddk = P .. ':dd:' .. channel .. ':' .. change
local seen = redis.call('GET', ddk)
if seen then
  local a = string.find(seen, '|', 1, true)
  local b = string.find(seen, '|', a + 1, true)
  return {'duplicate', string.sub(seen, 1, a - 1), string.sub(seen, a + 1, (b or 0) - 1)}
end
local ref = redis.call('GET', P .. ':dd:' .. channel .. ':' .. target)
if not ref then return {'not_found'} end
local a = string.find(ref, '|', 1, true)
local b = string.find(ref, '|', a + 1, true)
local cid, mid = string.sub(ref, 1, a - 1), string.sub(ref, a + 1, b - 1)
local k, mk = cvk(cid), msgk(cid, mid)
-- Only the customer who sent it changes it (a merged contact still owns its messages).
local owner = redis.call('GET', P .. ':id:' .. ik)
if not owner or owner ~= redis.call('HGET', k, 'contact_id') then return {'not_found'} end
if redis.call('HGET', mk, 'direction') ~= 'inbound' then return {'not_found'} end
local at, now = tonumber(ARGV[9]), tonumber(ARGV[10])
local outcome = 'stale'
if action == 'deleted' then
  if empty(redis.call('HGET', mk, 'deleted_at')) then
    redis.call('HSET', mk, 'deleted_at', int(at))
    outcome = 'ok'
  end
elseif empty(redis.call('HGET', mk, 'deleted_at')) then
  -- Edits may arrive out of order: the latest one by the customer's clock stays.
  redis.call('HINCRBY', mk, 'edit_count', 1)
  if at >= (tonumber(redis.call('HGET', mk, 'edited_at')) or -1) then
    redis.call('HSET', mk, 'edited_text', ARGV[7], 'edited_at', int(at))
    if not empty(ARGV[8]) then redis.call('HSET', mk, 'edited_attachments', ARGV[8]) end
    outcome = 'ok'
  end
end
if outcome == 'ok' then
  redis.call('HSET', k, 'updated_at', int(now))
  event('message.' .. action .. ':' .. mid .. ':' .. change, 'message.' .. action, ARGV[12], {
    conversation_id = cid, contact_id = owner, message_id = mid, occurred_at_ms = int(at)})
end
redis.call('SET', ddk, cid .. '|' .. mid .. '|' .. owner, 'PX', ARGV[11])
return {outcome, cid, mid}
