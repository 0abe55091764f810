-- Make a conversation findable by more terms (an agent's reply, a case number).
-- ARGV: 2 conversation, 3.. terms. Scored by the conversation's creation time, as the
-- listing indexes are; a term already written is written again to no effect.
local cid = ARGV[2]
local created = redis.call('HGET', cvk(cid), 'created_at')
if not created then return 0 end
for i = 3, #ARGV do redis.call('ZADD', P .. ':sx:' .. ARGV[i], created, cid) end
return #ARGV - 2
