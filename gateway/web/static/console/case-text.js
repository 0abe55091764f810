/* The case views' words (en, zh), stage names from the workflow, and what a timeline
 * entry says, as [class, text] lines.
 */
import { t, when } from "./i18n.js";
import { state } from "./state.js";

export const caseStrings = {
  en: {
    cases: "Cases", caseOverdue: "Overdue", caseStage: "Stage", caseCategory: "Category", overdueOnly: "Overdue only", all: "All",
    casesOff: "Cases are not configured (cases.file).", noCases: "No cases.",
    caseDueIn: "due in {d}", caseOverdueBy: "overdue by {d}", caseTimeline: "Timeline",
    caseDue: "Answer due", caseFirstUpdate: "First update due", caseDoneAt: "given {when}", caseEta: "Customer told",
    caseMaxDue: "Extensible to", caseExtensions: "Extensions", caseOpened: "Opened", caseResolution: "Resolution",
    caseConversation: "Open the conversation", caseMerchant: "Merchant", caseInternal: "internal",
    caseProgress: "Progress", caseExtend: "Extend", caseAddMerchant: "Add merchant", caseResolve: "Resolve",
    caseProgressSubmit: "Add progress", caseExtendSubmit: "Extend the deadline", caseAddMerchantSubmit: "Add and email the merchant",
    caseResolveSubmit: "Resolve the case",
    caseNote: "Note", caseNewStage: "Stage", caseKeepStage: "(unchanged)", caseEtaInput: "Expected by (optional)",
    caseInternalNote: "Internal note (the customer is not told)", caseUntil: "New deadline", caseReason: "Reason (the customer is told)",
    caseMerchantName: "Merchant name", caseMerchantEmail: "Merchant email", caseResolutionInput: "Resolution (the customer is told)",
    caseDone_progress: "Progress added.", caseDone_extend: "Deadline extended; the customer is told why.",
    caseDone_parties: "Merchant added; the email is on its way.", caseDone_resolve: "Resolved; the customer is told.",
    openCase: "Open case", openCaseSubmit: "Open the case", caseSummaryInput: "Summary",
    caseOpenedMsg: "Case {number} opened; answer due {due}. The customer is told.",
    caseToldCustomer: "Sent to the customer: {text}", caseNotSent: "Not sent to the customer: {reason}",
    caseUntilLine: "New deadline {until} (was {previous})", caseOnTime: "on time", caseLate: "late",
    caseDeadline_first_update: "first update", caseDeadline_resolve: "answer",
    caseDeadlineLine: "{deadline} deadline {due}", caseVia: "on {channel}",
    ce_opened: "Opened", ce_progress: "Progress", ce_note: "Internal note", ce_extended: "Extended",
    ce_party_added: "Merchant added", ce_party_mailed: "Merchant emailed", ce_party_mail_failed: "Merchant email failed",
    ce_party_reply: "Merchant replied", ce_resolved: "Resolved", ce_closed: "Closed", ce_reopened: "Reopened by the customer",
    ce_customer_notified: "Customer told", ce_customer_not_notified: "Customer not reached",
    ce_customer_asked: "Customer asked for progress", ce_due_soon: "Deadline near", ce_overdue: "Overdue",
  },
  zh: {
    cases: "案件", caseOverdue: "已超期", caseStage: "阶段", caseCategory: "类别", overdueOnly: "仅看超期", all: "全部",
    casesOff: "未启用案件（cases.file）。", noCases: "暂无案件。",
    caseDueIn: "{d} 后到期", caseOverdueBy: "已超期 {d}", caseTimeline: "处理记录",
    caseDue: "答复期限", caseFirstUpdate: "首次进展期限", caseDoneAt: "已于 {when} 告知", caseEta: "已告知客户",
    caseMaxDue: "最长可延至", caseExtensions: "延期次数", caseOpened: "受理", caseResolution: "处理结果",
    caseConversation: "打开会话", caseMerchant: "商户", caseInternal: "内部",
    caseProgress: "进展", caseExtend: "延期", caseAddMerchant: "添加商户", caseResolve: "办结",
    caseProgressSubmit: "添加进展", caseExtendSubmit: "延长期限", caseAddMerchantSubmit: "添加并邮件通知商户",
    caseResolveSubmit: "办结案件",
    caseNote: "说明", caseNewStage: "阶段", caseKeepStage: "（不变）", caseEtaInput: "预计完成日期（可选）",
    caseInternalNote: "内部备注（不告知客户）", caseUntil: "新的期限", caseReason: "原因（将告知客户）",
    caseMerchantName: "商户名称", caseMerchantEmail: "商户邮箱", caseResolutionInput: "处理结果（将告知客户）",
    caseDone_progress: "已添加进展。", caseDone_extend: "已延期，并已告知客户原因。",
    caseDone_parties: "已添加商户，邮件正在发送。", caseDone_resolve: "已办结，并已告知客户。",
    openCase: "立案", openCaseSubmit: "创建案件", caseSummaryInput: "摘要",
    caseOpenedMsg: "案件 {number} 已创建，答复期限 {due}，已告知客户。",
    caseToldCustomer: "已发送给客户：{text}", caseNotSent: "未能发送给客户：{reason}",
    caseUntilLine: "新的期限 {until}（原为 {previous}）", caseOnTime: "按时", caseLate: "超期",
    caseDeadline_first_update: "首次进展", caseDeadline_resolve: "答复",
    caseDeadlineLine: "{deadline}期限 {due}", caseVia: "渠道 {channel}",
    ce_opened: "受理", ce_progress: "进展", ce_note: "内部备注", ce_extended: "延期",
    ce_party_added: "添加商户", ce_party_mailed: "已邮件通知商户", ce_party_mail_failed: "商户邮件发送失败",
    ce_party_reply: "商户回复", ce_resolved: "办结", ce_closed: "结案", ce_reopened: "客户回复，案件重新打开",
    ce_customer_notified: "已告知客户", ce_customer_not_notified: "未能告知客户",
    ce_customer_asked: "客户查询进度", ce_due_soon: "期限将至", ce_overdue: "已超期",
  },
};

export function stageName(workflow, stage) {
  const names = workflow && workflow.stages && workflow.stages[stage];
  return names ? names[state.lang] || names.en || stage : stage;
}

export function entryText(entry) {
  const lines = [];
  if (entry.summary) lines.push(["text", entry.summary]);
  if (entry.note) lines.push(["text", entry.note]);
  if (entry.reason && entry.kind === "extended") lines.push(["text", entry.reason]);
  if (entry.kind === "extended" && entry.until)
    lines.push(["muted small", t("caseUntilLine", { until: when(entry.until), previous: when(entry.previous) })]);
  if (entry.kind === "resolved" && entry.on_time !== undefined) lines.push(["muted small", t(entry.on_time ? "caseOnTime" : "caseLate")]);
  if (entry.kind === "party_added" || entry.kind === "party_mailed") lines.push(["text", [entry.party, entry.email].filter((x) => typeof x === "string").join(" ")]);
  if ((entry.kind === "due_soon" || entry.kind === "overdue") && entry.deadline)
    lines.push(["text", t("caseDeadlineLine", { deadline: t(`caseDeadline_${entry.deadline}`), due: when(entry.due) })]);
  if (entry.kind === "customer_asked" && entry.channel) lines.push(["muted small", t("caseVia", { channel: t(`ch_${entry.channel}`) })]);
  if (entry.customer_text) lines.push(["customer-text", t("caseToldCustomer", { text: entry.customer_text })]);
  if (entry.reason && entry.kind !== "extended") lines.push(["error-text", t("caseNotSent", { reason: entry.reason })]);
  return lines.filter(([, text]) => text);
}
