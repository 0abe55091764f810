-- The conversation a case keeps with one of its parties (a merchant, by email): made
-- once per party, for the party's address, flagged `case_party` and never offered to
-- agents. ARGV[2] is the plan (see PartyConversationPlan). Returns {'ok', conversation
-- id, '1' when made now}, or {'not_found'} without the case or that party.
local plan = cjson.decode(ARGV[2])
local k = casek(plan.number)
if redis.call('EXISTS', k) == 0 then return {'not_found'} end
if tonumber(plan.party) > redis.call('LLEN', k .. ':parties') then return {'not_found'} end
local field = 'party:' .. plan.party .. ':cv'
local existing = redis.call('HGET', k, field)
if existing then return {'ok', existing, '0'} end
local now = plan.now_ms
local contact = redis.call('GET', P .. ':id:' .. plan.identity)
if not contact then
  contact = plan.new_contact_id
  redis.call('HSET', ctk(contact), 'id', contact, 'created_at', now, 'name', plan.name)
  redis.call('SET', P .. ':id:' .. plan.identity, contact)
  redis.call('SADD', ctk(contact) .. ':ids', plan.identity)
end
local cid = plan.new_conversation_id
local ck = cvk(cid)
redis.call('HSET', ck, 'id', cid, 'contact_id', contact, 'channel', 'email', 'endpoint', plan.endpoint,
  'subject', plan.subject, 'created_at', now, 'updated_at', now, 'routing_version', '0', 'target_index', '0',
  'priority', '0', 'sla_state', 'none', 'reply_seq', '0', 'message_count', '0', 'sla_breaches', '0')
set_status(cid, nil, 'pending')
redis.call('ZADD', P .. ':idx:all', now, cid)
redis.call('ZADD', ctk(contact) .. ':convs', now, cid)
redis.call('SADD', ck .. ':flags', 'case_party')
for name, value in pairs(plan.attributes) do redis.call('HSET', ck .. ':attrs', name, value) end
redis.call('HSET', k, field, cid)
event('conversation.opened:' .. cid, 'conversation.opened', plan.payload,
  {conversation_id = cid, contact_id = contact, occurred_at_ms = now})
return {'ok', cid, '1'}
