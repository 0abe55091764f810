-- Open a case on a conversation: a number never used before (a per-day counter), the
-- case record, its first timeline entry, its indexes, its deadline and notice timers and
-- the case.opened event, in one step. ARGV[2] is the plan (see CaseOpenPlan). The entry
-- and timer members may hold {number} (timers {seq} too), filled in here.
local plan = cjson.decode(ARGV[2])
local cid = plan.conversation_id
local ck = cvk(cid)
if redis.call('EXISTS', ck) == 0 then return {'not_found'} end
local linked = redis.call('HGET', ck .. ':attrs', 'case')
if linked then
  local stage = redis.call('HGET', casek(string.sub(linked, 2, -2)), 'stage')
  if stage and stage ~= 'resolved' and stage ~= 'closed' then return {'exists', string.sub(linked, 2, -2)} end
end
local num
repeat
  num = plan.stem .. '-' .. string.format('%04d', redis.call('INCR', P .. ':cases:seq:' .. plan.stem))
until redis.call('EXISTS', casek(num)) == 0
local k = casek(num)
local now = plan.now_ms
local contact = redis.call('HGET', ck, 'contact_id')
redis.call('HSET', k, 'number', num, 'category', plan.category, 'kind', plan.kind, 'stage', 'received',
  'summary', plan.summary, 'contact_id', contact, 'conversation_id', cid, 'channel', redis.call('HGET', ck, 'channel'),
  'queue', plan.queue, 'language', plan.language, 'created_at', now, 'created_by', plan.by,
  'first_update_due', plan.first_update_due_ms, 'due_at', plan.due_ms, 'original_due_at', plan.due_ms,
  'max_due_at', plan.max_due_ms, 'eta', plan.due_ms, 'extensions', '0', 'reopened', '0')
redis.call('ZADD', P .. ':cases:all', now, num)
redis.call('ZADD', P .. ':cases:st:received', now, num)
redis.call('ZADD', P .. ':cases:cat:' .. plan.category, now, num)
redis.call('ZADD', P .. ':cases:open', plan.due_ms, num)
redis.call('ZADD', ctk(contact) .. ':cases', now, num)
redis.call('ZADD', k .. ':convs', now, cid)
redis.call('HSET', ck .. ':attrs', 'case', '"' .. num .. '"')
-- The conversation is found by its case number (the words search_terms.py cuts it into).
local created = redis.call('HGET', ck, 'created_at')
for w in string.gmatch(string.lower(num), '%w+') do redis.call('ZADD', P .. ':sx:' .. w, created, cid) end
redis.call('RPUSH', k .. ':tl', '{"seq":1,' .. string.sub(string.gsub(plan.entry, '{number}', num), 2))
for _, t in ipairs(plan.timers) do
  local member = string.gsub(string.gsub(t[1], '{number}', num), '{seq}', '1')
  redis.call('ZADD', TIMERS, t[2], member)
end
event('case.opened:' .. num, 'case.opened', plan.payload, {number = num, seq = '1', stage = 'received',
  conversation_id = cid, contact_id = contact, occurred_at_ms = now})
return {'ok', num}
