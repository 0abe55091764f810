-- Find conversations, newest first (by creation time), for a listing or a search.
-- ARGV: 2 limit, 3 cursor score ('' = from the newest), 4 cursor member, 5 budget (most
-- entries looked at in one call), 6 the listing index that holds every match (status,
-- queue or contact; the index of all when none narrows), 7 filters (JSON: status, queue,
-- channel, assignee, contact_id, sla, now, soon; scoped, reader, reader_queues: an
-- agent's read scope), 8.. search terms: a conversation must be in every term's index
-- (P:sx:<term>).
-- The smallest of those indexes is walked and the others are asked (ZSCORE), so the cost
-- is bounded by the rarest term or filter, not by how many conversations there are.
-- Returns {looked_at, next_score, next_member, id...}; next_score '' when nothing is left.
local limit, budget = tonumber(ARGV[2]), tonumber(ARGV[5])
local f = cjson.decode(ARGV[7])
local source = ARGV[6]
local others = {}
if #ARGV >= 8 then
  local best_n = nil
  if source ~= P .. ':idx:all' then best_n = redis.call('ZCARD', source) end
  local keys = {}
  for i = 8, #ARGV do
    local key = P .. ':sx:' .. ARGV[i]
    local n = redis.call('ZCARD', key)
    if n == 0 then return {'0', '', ''} end
    keys[#keys + 1] = key
    if best_n == nil or n < best_n then source, best_n = key, n end
  end
  for _, key in ipairs(keys) do
    if key ~= source then others[#others + 1] = key end
  end
end
local filtered = false
for _, name in ipairs({'status', 'queue', 'channel', 'assignee', 'contact_id', 'sla'}) do
  if not empty(f[name]) then filtered = true end
end
-- The agent's read scope is applied here, not after: a page and its cursor never come
-- from a conversation the agent may not read (the cursor would tell it matched).
local scoped, reader, served = f.scoped == true, f.reader, {}
if scoped then
  for _, q in ipairs(f.reader_queues) do served[q] = true end
end

-- Mirrors may_read in gateway/web/read_scope.py (keep the two the same): assigned to the
-- agent, or they took part in it, or on no queue, or on a queue they are served from.
local function readable(cid)
  if not scoped then return true end
  if empty(reader) then return false end
  local v = redis.call('HMGET', cvk(cid), 'queue', 'assignee', 'agents', 'status')
  if empty(v[4]) then return false end  -- gone: nothing to read
  if not empty(v[2]) and v[2] == reader then return true end
  if not empty(v[3]) and string.find(v[3], '|' .. reader .. '|', 1, true) then return true end
  return empty(v[1]) or served[v[1]] == true
end

local function wanted(cid)
  for _, key in ipairs(others) do
    if not redis.call('ZSCORE', key, cid) then return false end
  end
  if not readable(cid) then return false end
  if not filtered then return true end
  local v = redis.call('HMGET', cvk(cid), 'status', 'queue', 'channel', 'assignee', 'contact_id', 'reply_by')
  if not v[1] then return false end
  if not empty(f.status) and v[1] ~= f.status then return false end
  if not empty(f.queue) and v[2] ~= f.queue then return false end
  if not empty(f.channel) and v[3] ~= f.channel then return false end
  if not empty(f.assignee) then
    if f.assignee == '-' then
      if not empty(v[4]) then return false end
    elseif v[4] ~= f.assignee then return false end
  end
  if not empty(f.contact_id) and v[5] ~= f.contact_id then return false end
  if not empty(f.sla) then
    local due = tonumber(v[6])
    if due == nil or due == 0 then return false end
    if f.sla == 'overdue' and due > tonumber(f.now) then return false end
    if f.sla == 'due_soon' and (due <= tonumber(f.now) or due > tonumber(f.soon)) then return false end
  end
  return true
end

-- Walk down from the cursor. Members of one score come in reverse lexical order, so
-- `skip` counts those already passed at the score `top`.
local top, skip = '+inf', 0
if ARGV[3] ~= '' then
  top = ARGV[3]
  if ARGV[4] ~= '' then for _, m in ipairs(redis.call('ZREVRANGEBYSCORE', source, top, top)) do
    if m >= ARGV[4] then skip = skip + 1 end
  end end
end
local found, looked = {}, 0
local last_s, last_m = nil, nil
local chunk = math.min(math.max(limit * 4, 64), 1000)
while true do
  local batch = redis.call('ZREVRANGEBYSCORE', source, top, '-inf', 'WITHSCORES', 'LIMIT', skip, chunk)
  if #batch == 0 then return {int(looked), '', '', unpack(found)} end
  for i = 1, #batch, 2 do
    local cid, score = batch[i], batch[i + 1]
    looked = looked + 1
    last_s, last_m = score, cid
    if wanted(cid) then
      found[#found + 1] = cid
      if #found >= limit then return {int(looked), score, cid, unpack(found)} end
    end
    if looked >= budget then return {int(looked), score, cid, unpack(found)} end
  end
  if last_s == top then
    skip = skip + #batch / 2
  else
    top, skip = last_s, 0
    for i = #batch - 1, 1, -2 do
      if batch[i + 1] == last_s then skip = skip + 1 else break end
    end
  end
  if #batch / 2 < chunk then return {int(looked), '', '', unpack(found)} end
end
