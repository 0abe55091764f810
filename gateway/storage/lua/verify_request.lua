-- A verification code sent to a contact (ARGV[2], see VerificationPlan): it replaces any
-- earlier code with its attempts, unless the last one went out less than resend_after
-- ago. Only the code's salted hash is kept, never the code. With it: the expiry timer
-- and the verification.requested event. Returns {'ok'} or {'too_soon', ms to wait}.
local plan = cjson.decode(ARGV[2])
local k = P .. ':vf:{' .. plan.contact .. '}'
local now = tonumber(plan.now_ms)
local sent = tonumber(redis.call('HGET', k, 'sent_ms') or '') or 0
if sent > 0 and now - sent < tonumber(plan.resend_after_ms) then
  return {'too_soon', int(sent + tonumber(plan.resend_after_ms) - now)}
end
redis.call('DEL', k)
redis.call('HSET', k, 'state', 'pending', 'method', plan.via, 'via', plan.via, 'to', plan.to,
  'destination', plan.destination, 'nonce', plan.nonce, 'salt', plan.salt, 'hash', plan.hash,
  'attempts', '0', 'max_attempts', plan.max_attempts, 'sent_ms', int(now),
  'expires_ms', plan.expires_ms, 'conversation', plan.conversation, 'requested_by', plan.by)
redis.call('PEXPIRE', k, plan.keep_ms)
redis.call('ZADD', TIMERS, plan.expires_ms, plan.timer)
event('verification.requested:' .. plan.contact .. ':' .. plan.nonce, 'verification.requested', plan.payload,
  {conversation_id = plan.conversation, contact_id = plan.contact, expires_at_ms = plan.expires_ms,
   requested_at_ms = int(now)})
return {'ok'}
