-- Merge contact `other` into `keep`: identities, conversations and their pointers, and
-- cases move, attributes join (keep's win), and the act is audited. ARGV: 2 keep, 3 other, 4 by,
-- 5 now, 6 merged-event payload.
local keep, other, by, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if keep == other then return {'same'} end
if redis.call('EXISTS', ctk(keep)) == 0 or redis.call('EXISTS', ctk(other)) == 0 then return {'not_found'} end
if not empty(redis.call('HGET', ctk(other), 'merged_into')) then return {'already'} end
if not empty(redis.call('HGET', ctk(keep), 'merged_into')) then return {'merged_keep'} end
for _, ik in ipairs(redis.call('SMEMBERS', ctk(other) .. ':ids')) do
  redis.call('SET', P .. ':id:' .. ik, keep)
  redis.call('SADD', ctk(keep) .. ':ids', ik)
end
redis.call('DEL', ctk(other) .. ':ids')
local convs = redis.call('ZRANGE', ctk(other) .. ':convs', 0, -1, 'WITHSCORES')
for i = 1, #convs, 2 do
  redis.call('ZADD', ctk(keep) .. ':convs', convs[i + 1], convs[i])
  redis.call('HSET', cvk(convs[i]), 'contact_id', keep)
end
redis.call('DEL', ctk(other) .. ':convs')
local cases = redis.call('ZRANGE', ctk(other) .. ':cases', 0, -1, 'WITHSCORES')
for i = 1, #cases, 2 do
  redis.call('ZADD', ctk(keep) .. ':cases', cases[i + 1], cases[i])
  redis.call('HSET', casek(cases[i]), 'contact_id', keep)
end
redis.call('DEL', ctk(other) .. ':cases')
local old_prefix = P .. ':open:' .. other .. ':'
for _, ptr in ipairs(redis.call('SMEMBERS', ctk(other) .. ':ptrs')) do
  local moved = P .. ':open:' .. keep .. ':' .. string.sub(ptr, #old_prefix + 1)
  local target = redis.call('GET', ptr)
  if target and redis.call('EXISTS', moved) == 0 then
    redis.call('SET', moved, target)
    redis.call('SADD', ctk(keep) .. ':ptrs', moved)
  end
  redis.call('DEL', ptr)
end
redis.call('DEL', ctk(other) .. ':ptrs')
local attrs = redis.call('HGETALL', ctk(other) .. ':attrs')
for i = 1, #attrs, 2 do redis.call('HSETNX', ctk(keep) .. ':attrs', attrs[i], attrs[i + 1]) end
if empty(redis.call('HGET', ctk(keep), 'name')) then
  redis.call('HSET', ctk(keep), 'name', redis.call('HGET', ctk(other), 'name') or '')
end
redis.call('HSET', ctk(other), 'merged_into', keep)
local audit = cjson.encode({action = 'contact.merged', keep = keep, other = other, by = by, at_ms = int(now)})
redis.call('LPUSH', P .. ':audit', audit)
redis.call('LTRIM', P .. ':audit', 0, 9999)
event('contact.merged:' .. other, 'contact.merged', ARGV[6], {
  contact_id = keep, merged_contact_id = other, by = by, occurred_at_ms = int(now)})
return {'ok', #convs / 2}
