-- Before routing, in one round trip: is this a redelivery, who is the contact, and in
-- which state is the conversation the message would join?
-- ARGV: 2 channel, 3 external id, 4 endpoint, 5 '1' = thread by contact, 6 thread refs
-- (JSON list), 7.. identity keys (primary first). Returns a JSON object.
local seen = redis.call('GET', P .. ':dd:' .. ARGV[2] .. ':' .. ARGV[3])
if seen then return cjson.encode({duplicate = seen}) end
local out = {}
local contact = nil
for i = 7, #ARGV do
  local c = redis.call('GET', P .. ':id:' .. ARGV[i])
  if c then contact = c; break end
end
local cid = nil
for _, ref in ipairs(cjson.decode(ARGV[6])) do
  cid = redis.call('GET', P .. ':thr:' .. ref)
  if cid then break end
end
if contact then
  out.contact = contact
  out.attrs = redis.call('HGETALL', ctk(contact) .. ':attrs')
  if not cid and ARGV[5] == '1' then
    cid = redis.call('GET', P .. ':open:' .. contact .. ':' .. ARGV[2] .. ':' .. ARGV[4])
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
return cjson.encode(out)
