-- A provider's delivery report, forward-only. ARGV: 2 channel, 3 provider id, 4 status,
-- 5 error, 6 now, 7 status-event payload, 8 TTL ms for reports that arrive before the id.
local channel, ext, status, err = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ref = redis.call('GET', P .. ':ext:' .. channel .. ':' .. ext)
if not ref then
  local early = P .. ':extearly:' .. channel .. ':' .. ext
  redis.call('RPUSH', early, status .. '|' .. err)
  redis.call('PEXPIRE', early, ARGV[8])
  return {'unknown'}
end
local sep = string.find(ref, '|', 1, true)
local cid, mid = string.sub(ref, 1, sep - 1), string.sub(ref, sep + 1)
local mk = msgk(cid, mid)
local current = redis.call('HGET', mk, 'status')
if not moves_forward(current, status) then return {'ignored', cid, mid, current or ''} end
redis.call('HSET', mk, 'status', status)
if not empty(err) then redis.call('HSET', mk, 'error', err) end
event('message.status:' .. mid .. ':' .. status, 'message.status', ARGV[7], {
  conversation_id = cid, message_id = mid, status = status, error = err, occurred_at_ms = ARGV[6]})
if status == 'failed' or status == 'undelivered' then rearm_after_failure(cid, mid, tonumber(ARGV[6])) end
return {'ok', cid, mid, status}
