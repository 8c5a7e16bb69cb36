"""The templates of ``creditcycle explain``, in English and Chinese: headings, states,
remedies and timeline lines (``domain.explain_texts`` holds the names and reason codes
they are filled with; ``domain.explain`` renders them).

A template names its values in braces (``{amount}``); ``domain.explain`` fills them in
by type.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "en": {
        # headings
        "title": "Borrower {user}, as of {as_of} (the last closed business date)",
        "title_no_close": "Borrower {user} (no business date has been closed yet)",
        "h_state": "Where things stand",
        "h_remedies": "What would restore it",
        "h_timeline": "What happened",
        "h_timeline_since": "What happened since {since}",
        "nothing": "Nothing recorded.",
        "no_remedy": "Nothing is holding the score or the limit back.",
        # state
        "state": "Credit score {score}; credit limit {limit}{status}.",
        "st_open": "",
        "st_frozen": " (frozen: no new loans for now)",
        "st_closed": " (account closed: no new loans)",
        "loan_current": "Loan {loan} ({principal} taken out on {disbursed}) is up to date: "
                        "{outstanding} still to repay, next installment {next_amount} due on "
                        "{next_due}, collected automatically on that day.",
        "loan_current_nothing_due": "Loan {loan} ({principal} taken out on {disbursed}) is up "
                                    "to date: {outstanding} still to repay.",
        "loan_overdue": "Loan {loan} is {dpd} overdue (bucket {bucket}): {due} is past "
                        "due and {outstanding} is owed in all.{stage}",
        "stage_internal": " Our own collection team is following it up.",
        "stage_agency": " It has been handed to the collection agency {agency}.",
        "stage_hold": " Collection is on hold while a complaint or dispute is reviewed.",
        "loan_written_off": "Loan {loan} was written off on {day} at {dpd} overdue"
                            "{agency}. Still owed: {owed} ({parts}).",
        "wo_agency": ", after collection by {agency}",
        "loan_paid_off": "Loan {loan} ({principal} taken out on {disbursed}) is fully repaid.",
        "consent_off": "Automatic deduction is switched off for {sources}.",
        "card_blocked": "Card debits are stopped because the bank reported the card invalid; "
                        "linking a new card resumes them.",
        "no_card": "No bank card is linked, so automatic deduction never asks a card; "
                   "linking one adds it.",
        # remedies
        "fix_frozen_one": "The limit is frozen because loan {loan} is {dpd} overdue; "
                          "repaying {amount} unfreezes it at the next close ({next_close})."
                          "{per_day}",
        "fix_frozen_many": "The limit is frozen because {loans} are overdue (up to {dpd}); "
                           "repaying {amount} in all unfreezes it at the next close "
                           "({next_close}).{per_day}",
        "per_day": " Each further day adds about {amount} of penalty interest.",
        "fix_grace": "Loan {loan} is {dpd} late, within the {grace}-day grace period: paying "
                     "{amount} by {deadline}, before that day's automatic deduction, avoids "
                     "any consequence. After that the loan becomes overdue: new loans are "
                     "frozen, the score falls by {points} points and penalty interest is "
                     "charged.",
        "fix_how_to_pay": "The money can be paid in as a repayment, or put in {sources} before "
                          "the next automatic deduction.{off}",
        "how_to_pay_off": " Automatic deduction is switched off for {sources}: money put there "
                          "is not taken unless it is switched back on.",
        "fix_how_to_pay_none": "The money can be paid in as a repayment. Automatic deduction is "
                               "switched off for {sources}, so money put there is not taken; "
                               "switching it back on lets the next automatic deduction use it.",
        "after_clearing": "Once the overdue amount is repaid the score gains {points} points "
                          "for each loan brought up to date, and the first limit recalculation "
                          "after that halves the limit target once (a recent overdue episode).",
        "fix_closed": "The account was closed after the write-off of {loans}: the limit "
                      "stays at 0 for good and no new loan can be taken out; this cannot be "
                      "undone. The {owed} still owed can be repaid at any time; it is "
                      "recorded as a recovery.",
        "fix_CAPACITY_DECLINE": "Reduced repayment capacity was reported on {since}; it "
                                "multiplies the limit by {factor} until {until} (90 days), then "
                                "lifts at the next recalculation.",
        "fix_MULTI_BORROWING": "{count} loan applications at other lenders in the last 30 days "
                               "multiply the limit by {factor}; if no more arrive, this lifts "
                               "on {until}.",
        "fix_FLAGGED_CONTACTS": "The platform's risk service flagged contacts of this account "
                                "{count} times, which multiplies the limit by {factor}; this "
                                "does not lapse by itself, a risk review can lift it.",
        "fix_IDENTITY_CHURN": "{count} phone number or bank card changes in the last 90 days "
                              "multiply the limit by {factor}; without further changes this "
                              "lifts on {until}.",
        "fix_DORMANT": "No loan has been taken out in the last 180 days{last}, which multiplies "
                       "the limit by {factor}; taking out a loan ends this.",
        "dormant_last": " (the last one on {day})",
        "fix_LOW_ACTIVITY": "{active} active days in the last 90 (days with a payment, "
                            "transfer, red packet, bill payment or wealth purchase) multiply "
                            "the limit by {factor}; {need} more active days bring it to 1, "
                            "and 60 give the most, 1.5.",
        "fix_score_band": "A credit score of {score} gives a base limit of {base}; reaching "
                          "{next_score} raises the base to {next_base}. Each installment paid "
                          "on its due date adds {on_time} points.",
        "fix_external": "Another lender reported an overdue debt on {day} ({delta} points); "
                        "a further report would count again from {next}.",
        "fix_history_pending": "The next recalculation halves the limit target once, because "
                               "of the overdue episode just cleared.",
        "fix_lapsed": "No longer in force: {why} (lapsed on {day}); the limit recovers at "
                      "the next recalculations.",
        "next_recalc": "Next limit recalculation: {day}. If nothing changes, the limit will "
                       "then be {projected}.",
        "increase_rule": "A limit rises at most once every {interval} days and by at most "
                         "{cap}% (at least {floor}); the next rise is possible from {day}.",
        # timeline
        "loan_opened": "Loan {loan} taken out: {principal}, {rate}, {term} monthly "
                       "installments (the first {installment}).",
        "rate_free": "interest-free",
        "rate_pct": "{pct}% a year",
        "draw_refused": "A new loan {loan} of {amount} was refused: {reason}.",
        "application_refused": "The application for loan {loan} of {amount} was refused: "
                               "{reason}. {fix}",
        "audit_refused": "A video audit of the application for loan {loan} was refused: "
                         "{reason}. {fix}",
        "application_cancelled": "The application for loan {loan} was cancelled: no video "
                                 "audit within {hours} hours. Apply again and take the audit "
                                 "between 08:00 and 24:00.",
        "fix_app_ACCOUNT_CLOSED": "No new loans can be taken on a closed account.",
        "fix_app_OVERDUE_FREEZE": "Repay the overdue amount; new loans open again after the "
                                  "next night's close.",
        "fix_app_AGE_OUT_OF_RANGE": "Loans are open to borrowers of the eligible age only.",
        "fix_app_IDENTITY_UNVERIFIED": "Complete real-name verification in the app, then "
                                       "apply again.",
        "fix_app_IDENTITY_EXPIRED": "Upload the renewed identity document; once it is "
                                    "recorded, apply again.",
        "fix_app_LIMIT_EXCEEDED": "Apply for no more than the available limit.",
        "fix_app_AUDIT_HOURS": "The application is still waiting: take the audit between "
                               "08:00 and 24:00.",
        "fix_app_APPLICATION_EXPIRED": "Apply again and take the audit within 48 hours.",
        "fix_app_DUPLICATE_APPLICATION": "Use a new loan number.",
        "fix_app_UNKNOWN_APPLICATION": "Check the loan number of the application.",
        "fix_app_APPLICATION_CLOSED": "Nothing to do: the application already has its outcome.",
        "repay_refused": "A repayment naming loan {loan} was refused: {reason}.",
        "money_in": "{what}",
        "signal": "{what}",
        "money_in_wallet_topup": "{amount} paid into the wallet.",
        "money_in_fund_deposit": "{amount} paid into the money-market fund.",
        "money_in_card_deposit": "{amount} paid into the savings card.",
        "collected": "{total} collected by automatic deduction for {loans}: {parts}.",
        "card_failed": "A card debit failed ({reason}).",
        "card_failed_many": "{count} card debit attempts failed ({reason}).",
        "card_pending": "A card debit of {amount} is pending with the bank; the fund is not "
                        "used until it resolves.",
        "card_resolved_debited": "The pending card debit of {amount} went through; it counts "
                                 "as paid on {day}.",
        "card_resolved_failed": "The pending card debit of {amount} failed; nothing was taken.",
        "repaid": "Repayment of {total} received for {loans}: {parts}{excess}.",
        "repaid_excess": "; {amount} left over went to the wallet",
        "repaid_to_wallet": "Repayment of {total} received; nothing was owed, so it went to "
                            "the wallet.",
        "recovery": "{total} received for the written-off {loans} (recorded as a recovery).",
        "penalty_reversed": "{amount} of penalty interest reversed, because a card debit "
                            "counts from its own date.",
        "paid_off": "Loan {loan} is fully repaid.",
        "overdue_started": "Loan {loan} became overdue ({dpd} late, past the {grace}-day "
                           "grace period): new loans are frozen and penalty interest is "
                           "charged.",
        "bucket": "Loan {loan} reached {dpd} overdue (bucket {bucket}).",
        "overdue_cleared": "Loan {loan} was brought up to date and is no longer overdue.",
        "penalty": "Penalty interest on loan {loan}: {total} over {days}.",
        "reminder_due_soon": "Reminder sent: an installment of loan {loan} is due on {due}.",
        "reminder_overdue": "Overdue reminder sent for loan {loan}.",
        "reminder_overdue_many": "{count} overdue reminders sent for loan {loan}.",
        "case_internal": "Our collection team started following up loan {loan}.",
        "handoff": "Loan {loan} was handed to the collection agency {agency} at {dpd} "
                   "overdue, owing {owed}; the agency receives only a masked name and phone "
                   "number.",
        "case_closed": "Collection of loan {loan} ended because it was brought up to date "
                       "({recovered} recovered).",
        "written_off": "Loan {loan} was written off at {dpd} overdue: {amount} moved to "
                       "the written-off account and future interest waived; the account is "
                       "closed.",
        "hold": "Collection of loan {loan} put on hold (complaint or dispute); overdue days "
                "and penalty interest continue.",
        "release": "The collection hold on loan {loan} was released.",
        "bureau_OVERDUE": "Reported to the credit bureau: loan {loan} overdue ({dpd}).",
        "bureau_M3_PLUS": "Reported to the credit bureau: loan {loan} more than 90 days "
                          "overdue ({dpd}).",
        "bureau_WRITTEN_OFF": "Reported to the credit bureau: loan {loan} written off.",
        "bureau_CLEARED": "Reported to the credit bureau: loan {loan} brought up to date.",
        "score": "Credit score {old} → {new} ({delta}): {why}.",
        "why_OVERDUE_STARTED": "loan {loan} became overdue",
        "why_BUCKET_M2": "loan {loan} reached {dpd} overdue (M2)",
        "why_BUCKET_M3": "loan {loan} reached {dpd} overdue (M3)",
        "why_BUCKET_M3_PLUS": "loan {loan} reached {dpd} overdue (M3+)",
        "why_WRITTEN_OFF": "loan {loan} was written off",
        "why_EXTERNAL_OVERDUE": "another lender reported an overdue debt",
        "why_OVERDUE_CLEARED": "loan {loan} was brought up to date",
        "why_ON_TIME_REPAYMENT": "an installment of loan {loan} was paid on its due date",
        "limit": "Credit limit {old} → {new}: {why}.",
        "signal_job_loss": "A job loss was reported.",
        "signal_provident_fund_stopped": "Housing provident fund contributions were reported "
                                         "stopped.",
        "signal_multi_borrowing_inquiry": "A loan application at another lender was reported.",
        "signal_flagged_contact": "The platform's risk service flagged a contact of this "
                                  "account.",
        "signal_phone_change": "The phone number was changed.",
        "signal_card_change": "The linked bank card was changed.",
        "signal_external_overdue": "Another lender reported an overdue debt.",
        "signal_card_invalid": "The bank reported the linked card invalid.",
        "signal_card_outage": "The bank had an outage; card debits of the day failed.",
        "signal_card_timeout": "The bank timed out; card debits of the day were left pending.",
    },
    "zh": {
        "title": "用户 {user}（截至{as_of}，最近一个已日终的营业日）",
        "title_no_close": "用户 {user}（尚无已日终的营业日）",
        "h_state": "当前情况",
        "h_remedies": "如何恢复",
        "h_timeline": "经过",
        "h_timeline_since": "{since}以来的经过",
        "nothing": "暂无记录。",
        "no_remedy": "目前没有影响信用分或额度的因素。",
        "state": "信用分{score}，授信额度{limit}{status}。",
        "st_open": "",
        "st_frozen": "（已冻结，暂不能借款）",
        "st_closed": "（账户已关闭，不能再借款）",
        "loan_current": "借款{loan}（{disbursed}借入{principal}）还款正常：尚需还款{outstanding}，"
                        "下一期{next_amount}于{next_due}到期，当天自动扣款。",
        "loan_current_nothing_due": "借款{loan}（{disbursed}借入{principal}）还款正常：尚需还款"
                                    "{outstanding}。",
        "loan_overdue": "借款{loan}已逾期{dpd}（{bucket}）：已到期未还{due}，共欠{outstanding}。"
                        "{stage}",
        "stage_internal": "目前由平台催收团队跟进。",
        "stage_agency": "已转交催收机构{agency}。",
        "stage_hold": "投诉或争议处理中，催收已暂停。",
        "loan_written_off": "借款{loan}于{day}在逾期{dpd}时核销{agency}。仍欠{owed}（{parts}）。",
        "wo_agency": "（此前由{agency}催收）",
        "loan_paid_off": "借款{loan}（{disbursed}借入{principal}）已全部还清。",
        "consent_off": "以下渠道未开通自动扣款：{sources}。",
        "card_blocked": "银行报告该卡无效，银行卡扣款已停止；绑定新卡后恢复。",
        "no_card": "未绑定银行卡，自动扣款不会从银行卡扣款；绑定后即可扣款。",
        "fix_frozen_one": "因借款{loan}已逾期{dpd}，额度已冻结；还款{amount}后，将在下一次日终"
                          "（{next_close}）解冻。{per_day}",
        "fix_frozen_many": "因{loans}逾期（最长{dpd}），额度已冻结；共还款{amount}后，将在"
                           "下一次日终（{next_close}）解冻。{per_day}",
        "per_day": "每多逾期一天，约增加罚息{amount}。",
        "fix_grace": "借款{loan}已逾期{dpd}，仍在{grace}天宽限期内：在{deadline}自动扣款前还款"
                     "{amount}，不会产生任何影响；否则借款将进入逾期：暂停借款，信用分扣{points}分，"
                     "并开始收取罚息。",
        "fix_how_to_pay": "可以主动还款，也可以在下一次自动扣款前把钱存入{sources}。{off}",
        "how_to_pay_off": "{sources}未开通自动扣款，存入的钱不会被扣取，重新开通后才会使用。",
        "fix_how_to_pay_none": "可以主动还款。{sources}均未开通自动扣款，存入的钱不会被扣取；"
                               "重新开通后，下一次自动扣款才会使用。",
        "after_clearing": "还清逾期后，每笔恢复正常的借款信用分加{points}分；之后首次额度评估时，"
                          "目标额度减半一次（近期逾期记录）。",
        "fix_closed": "因{loans}核销，账户已关闭：额度永久为0，不能再借款，且无法恢复。"
                      "仍欠的{owed}可随时归还，记为追回款。",
        "fix_CAPACITY_DECLINE": "{since}收到还款能力下降的报告，额度乘以{factor}，至{until}"
                                "（90天后）失效，在随后的额度评估中恢复。",
        "fix_MULTI_BORROWING": "近30天在其他机构申请借款{count}次，额度乘以{factor}；如不再申请，"
                               "将于{until}失效。",
        "fix_FLAGGED_CONTACTS": "平台风控服务已{count}次标记该账户的联系人，额度乘以{factor}；"
                                "此项不会自动失效，需经风控复核解除。",
        "fix_IDENTITY_CHURN": "近90天更换手机号或银行卡{count}次，额度乘以{factor}；如不再更换，"
                              "将于{until}失效。",
        "fix_DORMANT": "近180天未借款{last}，额度乘以{factor}；再次借款即可解除。",
        "dormant_last": "（最近一次在{day}）",
        "fix_LOW_ACTIVITY": "近90天有{active}天有支付活动（付款、转账、红包、生活缴费或理财），"
                            "额度乘以{factor}；再有{need}天活跃可恢复到1倍，60天为最高的1.5倍。",
        "fix_score_band": "信用分{score}对应基础额度{base}；信用分达到{next_score}，基础额度升至"
                          "{next_base}。每期按时还款加{on_time}分。",
        "fix_external": "{day}其他机构报告了逾期（{delta}分）；再次报告将从{next}起重新计分。",
        "fix_history_pending": "因刚还清逾期，下一次额度评估时目标额度将减半一次。",
        "fix_lapsed": "以下因素已失效：{why}（{day}失效）；额度将在之后的评估中逐步恢复。",
        "next_recalc": "下一次额度评估：{day}。如情况不变，届时额度为{projected}。",
        "increase_rule": "额度每{interval}天最多提高一次，每次最多提高{cap}%（至少{floor}）；"
                         "最早可于{day}提高。",
        "loan_opened": "借入借款{loan}：{principal}，{rate}，分{term}期按月还款"
                       "（首期{installment}）。",
        "rate_free": "免息",
        "rate_pct": "年利率{pct}%",
        "draw_refused": "新借款{loan}（{amount}）申请被拒绝：{reason}。",
        "application_refused": "借款{loan}（{amount}）的申请被拒绝：{reason}。{fix}",
        "audit_refused": "借款{loan}申请的视频面审被拒绝：{reason}。{fix}",
        "application_cancelled": "借款{loan}的申请已取消：{hours}小时内未完成视频面审。"
                                 "请重新申请，并在08:00至24:00之间完成面审。",
        "fix_app_ACCOUNT_CLOSED": "账户已关闭，不能再借款。",
        "fix_app_OVERDUE_FREEZE": "还清逾期金额后，下一次日终处理后即可再借款。",
        "fix_app_AGE_OUT_OF_RANGE": "仅向符合年龄要求的借款人开放。",
        "fix_app_IDENTITY_UNVERIFIED": "请在App中完成实名认证后重新申请。",
        "fix_app_IDENTITY_EXPIRED": "请上传更新后的身份证件，登记后即可重新申请。",
        "fix_app_LIMIT_EXCEEDED": "申请金额不要超过可用额度。",
        "fix_app_AUDIT_HOURS": "申请仍在等待：请在08:00至24:00之间完成面审。",
        "fix_app_APPLICATION_EXPIRED": "请重新申请，并在48小时内完成面审。",
        "fix_app_DUPLICATE_APPLICATION": "请使用新的借款编号。",
        "fix_app_UNKNOWN_APPLICATION": "请核对申请的借款编号。",
        "fix_app_APPLICATION_CLOSED": "无需操作：该申请已有结果。",
        "repay_refused": "指定借款{loan}的还款被拒绝：{reason}。",
        "money_in": "{what}",
        "signal": "{what}",
        "money_in_wallet_topup": "零钱转入{amount}。",
        "money_in_fund_deposit": "货币基金转入{amount}。",
        "money_in_card_deposit": "储蓄卡存入{amount}。",
        "collected": "自动扣款{total}，用于归还{loans}：{parts}。",
        "card_failed": "银行卡扣款失败（{reason}）。",
        "card_failed_many": "银行卡扣款失败{count}次（{reason}）。",
        "card_pending": "银行卡扣款{amount}处理中，结果未知；在结果确定前不从货币基金扣款。",
        "card_resolved_debited": "处理中的银行卡扣款{amount}已成功，按{day}还款计算。",
        "card_resolved_failed": "处理中的银行卡扣款{amount}失败，未扣到钱。",
        "repaid": "收到还款{total}，用于{loans}：{parts}{excess}。",
        "repaid_excess": "；多余的{amount}转入零钱",
        "repaid_to_wallet": "收到还款{total}；当时没有欠款，已转入零钱。",
        "recovery": "收到已核销的{loans}的还款{total}（记为追回款）。",
        "penalty_reversed": "冲回罚息{amount}（银行卡扣款按其发起日期计算）。",
        "paid_off": "借款{loan}已全部还清。",
        "overdue_started": "借款{loan}逾期{dpd}，超过{grace}天宽限期，进入逾期：暂停借款，"
                           "开始收取罚息。",
        "bucket": "借款{loan}逾期达到{dpd}（{bucket}）。",
        "overdue_cleared": "借款{loan}已还清逾期，恢复正常。",
        "penalty": "借款{loan}产生罚息{total}，共{days}。",
        "reminder_due_soon": "已发送还款提醒：借款{loan}有一期将于{due}到期。",
        "reminder_overdue": "已发送借款{loan}的逾期提醒。",
        "reminder_overdue_many": "已发送借款{loan}的逾期提醒{count}次。",
        "case_internal": "平台催收团队开始跟进借款{loan}。",
        "handoff": "借款{loan}在逾期{dpd}时转交催收机构{agency}，欠款{owed}；催收机构只获得"
                   "脱敏后的姓名和手机号。",
        "case_closed": "借款{loan}已还清逾期，催收结束（追回{recovered}）。",
        "written_off": "借款{loan}在逾期{dpd}时核销：{amount}转入核销账户，免除未到期利息；"
                       "账户关闭。",
        "hold": "借款{loan}因投诉或争议暂停催收；逾期天数和罚息照常计算。",
        "release": "借款{loan}恢复催收。",
        "bureau_OVERDUE": "已报送征信：借款{loan}逾期（{dpd}）。",
        "bureau_M3_PLUS": "已报送征信：借款{loan}逾期超过90天（{dpd}）。",
        "bureau_WRITTEN_OFF": "已报送征信：借款{loan}已核销。",
        "bureau_CLEARED": "已报送征信：借款{loan}已还清逾期。",
        "score": "信用分{old} → {new}（{delta}）：{why}。",
        "why_OVERDUE_STARTED": "借款{loan}开始逾期",
        "why_BUCKET_M2": "借款{loan}逾期达到{dpd}（M2）",
        "why_BUCKET_M3": "借款{loan}逾期达到{dpd}（M3）",
        "why_BUCKET_M3_PLUS": "借款{loan}逾期达到{dpd}（M3+）",
        "why_WRITTEN_OFF": "借款{loan}核销",
        "why_EXTERNAL_OVERDUE": "其他机构报告了逾期",
        "why_OVERDUE_CLEARED": "借款{loan}已还清逾期",
        "why_ON_TIME_REPAYMENT": "借款{loan}按时还款",
        "limit": "授信额度{old} → {new}：{why}。",
        "signal_job_loss": "收到失业报告。",
        "signal_provident_fund_stopped": "收到公积金停缴报告。",
        "signal_multi_borrowing_inquiry": "收到在其他机构申请借款的记录。",
        "signal_flagged_contact": "平台风控服务标记了该账户的一个联系人。",
        "signal_phone_change": "更换了手机号。",
        "signal_card_change": "更换了绑定的银行卡。",
        "signal_external_overdue": "其他机构报告了逾期。",
        "signal_card_invalid": "银行报告绑定的银行卡无效。",
        "signal_card_outage": "银行系统故障，当天银行卡扣款失败。",
        "signal_card_timeout": "银行超时，当天银行卡扣款处理中。",
    },
}
