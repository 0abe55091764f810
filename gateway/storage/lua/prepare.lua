-- Before routing, in one round trip: is this a redelivery, and who is the contact?
-- ARGV: 2 channel, 3 external id, 4.. identity keys (primary first).
-- Returns {'duplicate', record} | {'contact', id, attr, value, ...} | {'new'}.
local seen = redis.call('GET', P .. ':dd:' .. ARGV[2] .. ':' .. ARGV[3])
if seen then return {'duplicate', seen} end
for i = 4, #ARGV do
  local c = redis.call('GET', P .. ':id:' .. ARGV[i])
  if c then
    local out = {'contact', c}
    for _, v in ipairs(redis.call('HGETALL', ctk(c) .. ':attrs')) do table.insert(out, v) end
    return out
  end
end
return {'new'}
