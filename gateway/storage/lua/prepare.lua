-- Before routing, in one round trip: is this a redelivery, who is the contact, and in
-- which state is the conversation the message would join?
-- ARGV: 2 channel, 3 external id, 4 endpoint, 5 '1' = thread by contact, 6 thread refs
-- (JSON list), 7.. identity keys (primary first). Returns a JSON object.
local seen = redis.call('GET', P .. ':dd:' .. ARGV[2] .. ':' .. ARGV[3])
if seen then return cjson.encode({duplicate = seen}) end
local ids = {}
for i = 7, #ARGV do ids[#ids + 1] = ARGV[i] end
return cjson.encode(intake_state(ARGV[2], ARGV[4], ARGV[5] == '1', cjson.decode(ARGV[6]), ids))
