-- Record what the provider said to a send. ARGV: 2 conversation, 3 message, 4 outcome
-- ('sent' | 'failed' | 'retry'), 5 provider id, 6 error, 7 channel, 8 now, 9 status the
-- provider reported, 10 provider-id map TTL ms, 11 status-event payload.
local cid, mid, outcome, ext, err, channel = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local mk = msgk(cid, mid)
if redis.call('EXISTS', mk) == 0 then return {'not_found'} end
redis.call('HINCRBY', mk, 'attempts', 1)
if outcome == 'retry' then
  redis.call('HSET', mk, 'error', err)
  return {'ok', redis.call('HGET', mk, 'status')}
end
local new = ARGV[9]
if outcome == 'failed' then new = 'failed' end
local function apply(status, error_text)
  if moves_forward(redis.call('HGET', mk, 'status'), status) then
    redis.call('HSET', mk, 'status', status)
    if not empty(error_text) then redis.call('HSET', mk, 'error', error_text) end
    event('message.status:' .. mid .. ':' .. status, 'message.status', ARGV[11], {
      conversation_id = cid, message_id = mid, status = status, error = error_text or '',
      occurred_at_ms = ARGV[8]})
    if status == 'failed' or status == 'undelivered' then rearm_after_failure(cid, mid, tonumber(ARGV[8])) end
  end
end
if outcome == 'sent' then redis.call('HSET', mk, 'error', '') end  -- an earlier attempt's error is over
if outcome == 'sent' and not empty(ext) then
  redis.call('HSET', mk, 'external_id', ext)
  redis.call('SET', P .. ':ext:' .. channel .. ':' .. ext, cid .. '|' .. mid, 'PX', ARGV[10])
  if channel == 'email' then
    -- Our own Message-ID joins the thread, so a reply to it finds the conversation.
    redis.call('SET', P .. ':thr:' .. ext, cid)
    redis.call('SADD', cvk(cid) .. ':threads', ext)
  end
end
apply(new, err)
if outcome == 'sent' and not empty(ext) then
  -- Status callbacks can beat our own record of the provider id; apply them now.
  local early = P .. ':extearly:' .. channel .. ':' .. ext
  for _, item in ipairs(redis.call('LRANGE', early, 0, -1)) do
    local sep = string.find(item, '|', 1, true)
    apply(string.sub(item, 1, sep - 1), string.sub(item, sep + 1))
  end
  redis.call('DEL', early)
end
return {'ok', redis.call('HGET', mk, 'status')}
