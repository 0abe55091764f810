-- What became of a contact's verification (ARGV[2], see SettlePlan), decided once:
-- * 'ok' / 'wrong': a code the customer sent, already compared by the caller against the
--   pending code `nonce`. Counted only while that code is pending, unexpired and not
--   locked; max_attempts wrong answers lock it (failed).
-- * 'expire': the code's time ran out unanswered (its timer): failed as expired.
-- * 'jwt': verified by a signed web chat identity; no code involved.
-- Returns {'verified'}, {'wrong', attempts left}, {'locked'}, {'expired'} or {'stale'}
-- (no such pending code: answered, replaced or locked already).
local plan = cjson.decode(ARGV[2])
local k = P .. ':vf:{' .. plan.contact .. '}'
local now = tonumber(plan.now_ms)
local function succeed(method)
  redis.call('HSET', k, 'state', 'verified', 'method', method, 'verified_ms', int(now),
    'valid_until_ms', int(now + tonumber(plan.valid_for_ms)), 'answered_in', plan.conversation)
  redis.call('HDEL', k, 'salt', 'hash', 'failed_ms', 'reason')
  redis.call('PEXPIRE', k, plan.keep_ms)
  event('verification.succeeded:' .. plan.contact .. ':' .. plan.nonce, 'verification.succeeded',
    plan.succeeded, {contact_id = plan.contact, conversation_id = plan.conversation, method = method,
    verified_at_ms = int(now)})
  return {'verified'}
end
local function fail(reason)
  redis.call('HSET', k, 'state', 'failed', 'failed_ms', int(now), 'reason', reason)
  redis.call('HDEL', k, 'salt', 'hash')
  local conv = redis.call('HGET', k, 'conversation') or ''
  event('verification.failed:' .. plan.contact .. ':' .. plan.nonce, 'verification.failed', plan.failed,
    {contact_id = plan.contact, conversation_id = conv, reason = reason, failed_at_ms = int(now)})
end
if plan.outcome == 'jwt' then return succeed('jwt') end
if redis.call('HGET', k, 'state') ~= 'pending' or redis.call('HGET', k, 'nonce') ~= plan.nonce then
  return {'stale'}
end
if now >= tonumber(redis.call('HGET', k, 'expires_ms')) then
  fail('expired')
  return {'expired'}
end
if plan.outcome == 'expire' then return {'stale'} end
local max = tonumber(redis.call('HGET', k, 'max_attempts'))
if plan.outcome == 'ok' then return succeed(redis.call('HGET', k, 'via')) end
local attempts = redis.call('HINCRBY', k, 'attempts', 1)
if attempts >= max then
  fail('max_attempts')
  return {'locked'}
end
return {'wrong', int(max - attempts)}
