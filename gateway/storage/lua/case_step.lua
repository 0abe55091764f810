-- One step on a case, applied only if the case is as the caller saw it: a progress note,
-- an extension, a party, the resolution, a reopening, a deadline firing, a notice sent.
-- ARGV[2] is the plan (see CaseStepPlan). Requirements first (stage, field values, a
-- once-only key), then the effects; the timeline only ever grows. Timer members may hold
-- {number}, {seq} and {party}, filled in here. Returns {'ok', stage, seq, party} or the
-- reason nothing happened: not_found, stage (with the stage), stale, already.
local plan = cjson.decode(ARGV[2])
local num = plan.number
local k = casek(num)
local stage = redis.call('HGET', k, 'stage')
if not stage then return {'not_found'} end
if plan.stages then
  local allowed = false
  for _, s in ipairs(plan.stages) do if s == stage then allowed = true end end
  if not allowed then return {'stage', stage} end
end
for field, value in pairs(plan.equals or {}) do
  if (redis.call('HGET', k, field) or '') ~= value then return {'stale', stage} end
end
for _, field in ipairs(plan.empty or {}) do
  if not empty(redis.call('HGET', k, field)) then return {'stale', stage} end
end
if plan.once and redis.call('SADD', k .. ':once', plan.once) == 0 then return {'already', stage} end
local now = plan.now_ms

if plan.stage and plan.stage ~= stage then
  local created = redis.call('HGET', k, 'created_at')
  redis.call('ZREM', P .. ':cases:st:' .. stage, num)
  redis.call('ZADD', P .. ':cases:st:' .. plan.stage, created, num)
  redis.call('HSET', k, 'stage', plan.stage)
  stage = plan.stage
end
for field, value in pairs(plan.set or {}) do redis.call('HSET', k, field, value) end
for field, by in pairs(plan.incr or {}) do redis.call('HINCRBY', k, field, tonumber(by)) end
if plan.open_index == 'add' then
  redis.call('ZADD', P .. ':cases:open', redis.call('HGET', k, 'due_at'), num)
elseif plan.open_index == 'remove' then
  redis.call('ZREM', P .. ':cases:open', num)
end
if plan.resolved_index == 'add' then
  redis.call('ZADD', P .. ':cases:resolved', now, num)
elseif plan.resolved_index == 'remove' then
  redis.call('ZREM', P .. ':cases:resolved', num)
end

local seq = ''
if plan.entry then
  seq = int(redis.call('LLEN', k .. ':tl') + 1)
  redis.call('RPUSH', k .. ':tl', '{"seq":' .. seq .. ',' .. string.sub(plan.entry, 2))
end
local party = ''
if plan.party then
  party = int(redis.call('LLEN', k .. ':parties') + 1)
  redis.call('RPUSH', k .. ':parties', '{"index":' .. party .. ',' .. string.sub(plan.party, 2))
end
for _, t in ipairs(plan.timers or {}) do
  local member = string.gsub(string.gsub(string.gsub(t[1], '{number}', num), '{seq}', seq), '{party}', party)
  redis.call('ZADD', TIMERS, t[2], member)
end

-- A conversation the case now concerns (the customer asked about it there, or reopened
-- it there): listed with the case, and marked with it unless another open case has it.
if plan.link and redis.call('EXISTS', cvk(plan.link)) == 1 then
  redis.call('ZADD', k .. ':convs', 'NX', now, plan.link)
  local linked = redis.call('HGET', cvk(plan.link) .. ':attrs', 'case')
  local other = linked and redis.call('HGET', casek(string.sub(linked, 2, -2)), 'stage')
  if not linked or other == 'resolved' or other == 'closed' or string.sub(linked, 2, -2) == num then
    redis.call('HSET', cvk(plan.link) .. ':attrs', 'case', '"' .. num .. '"')
  end
end

-- Overdue: the case's conversation goes back to agents on the category's queue, at the
-- raised priority given, reopened if it was resolved.
if plan.offer then
  local ocid = plan.offer.conversation_id
  local status = redis.call('HGET', cvk(ocid), 'status')
  if status then
    if status == 'resolved' then
      redis.call('HSET', cvk(ocid), 'resolved_at', '')
      set_status(ocid, status, 'open')
    end
    local priority = math.max(tonumber(plan.offer.priority), tonumber(redis.call('HGET', cvk(ocid), 'priority')) or 0)
    offer(ocid, plan.offer.queue, math.min(9, priority), 'case_overdue', tonumber(now), nil,
      tonumber(redis.call('HGET', cvk(ocid), 'target_index')) or 0, 0, plan.offer.payload, false)
  end
end

if plan.event then
  local mid = plan.event.rk .. ':' .. num .. ':' .. (seq ~= '' and seq or (plan.once or now))
  event(mid, plan.event.rk, plan.event.payload, {number = num, seq = seq, stage = stage,
    conversation_id = redis.call('HGET', k, 'conversation_id'), contact_id = redis.call('HGET', k, 'contact_id'),
    occurred_at_ms = now})
end
return {'ok', stage, seq, party}
