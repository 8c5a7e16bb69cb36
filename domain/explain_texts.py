"""The words of ``creditcycle explain``: every reason code and name, in English and
Chinese, apart from the rules they quote (``domain.explain`` renders them; the templates
are in ``domain.explain_templates``).

A name names its values in braces (``{amount}``); ``domain.explain`` fills them in by type.
"""

from __future__ import annotations

NAMES: dict[str, dict[str, str]] = {
    "en": {
        "wallet": "{amount} from the wallet",
        "card": "{amount} from the savings card",
        "fund": "{amount} from the money-market fund",
        "principal": "{amount} principal",
        "interest": "{amount} interest",
        "penalty": "{amount} penalty interest",
        "src_wallet": "the wallet", "src_card": "the savings card",
        "src_fund": "the money-market fund",
    },
    "zh": {
        "wallet": "零钱{amount}",
        "card": "储蓄卡{amount}",
        "fund": "货币基金{amount}",
        "principal": "本金{amount}",
        "interest": "利息{amount}",
        "penalty": "罚息{amount}",
        "src_wallet": "零钱", "src_card": "储蓄卡", "src_fund": "货币基金",
    },
}

CODES: dict[str, dict[str, str]] = {
    "en": {
        "CAPACITY_DECLINE": "a report of reduced repayment capacity (job loss or housing "
                            "provident fund stopped)",
        "MULTI_BORROWING": "3 or more loan applications at other lenders within 30 days",
        "FLAGGED_CONTACTS": "risk flags on the account's contacts",
        "IDENTITY_CHURN": "2 or more phone number or bank card changes within 90 days",
        "DORMANT": "no loan taken in the last 180 days",
        "LOW_ACTIVITY": "little payment activity in the last 90 days",
        "SPENDING_UP": "more payment activity",
        "SCORE_UP": "a higher credit score",
        "SCORE_DOWN": "a lower credit score",
        "OVERDUE_HISTORY": "a recent overdue episode (the limit is halved once after it is "
                           "cleared)",
        "ACCOUNT_CLOSED": "the account was closed after a write-off",
        "OVERDUE_FREEZE": "new loans are frozen while a loan is overdue",
        "LIMIT_EXCEEDED": "the amount was above the available limit",
        "UNKNOWN_LOAN": "there is no such loan on this account",
        "DUPLICATE_LOAN": "that loan number is already in use",
        "UNKNOWN_USER": "unknown account",
        "AGE_OUT_OF_RANGE": "the applicant's age is outside the range loans are open to",
        "IDENTITY_UNVERIFIED": "real-name verification is not complete",
        "IDENTITY_EXPIRED": "the identity document has expired",
        "AUDIT_HOURS": "video audits are held from 08:00 to 24:00 only",
        "APPLICATION_EXPIRED": "the video audit did not happen within 48 hours",
        "DUPLICATE_APPLICATION": "that loan number is already used by another application or loan",
        "UNKNOWN_APPLICATION": "there is no such application on this account",
        "APPLICATION_CLOSED": "the application was already decided",
        "insufficient_funds": "insufficient funds",
        "card_invalid": "the bank reported the card invalid",
        "outage": "bank outage",
        "no_reason": "the bank gave no reason",
    },
    "zh": {
        "CAPACITY_DECLINE": "还款能力下降（失业或公积金停缴）",
        "MULTI_BORROWING": "30天内在其他机构申请借款3次及以上",
        "FLAGGED_CONTACTS": "联系人存在风险标记",
        "IDENTITY_CHURN": "90天内更换手机号或银行卡2次及以上",
        "DORMANT": "近180天未借款",
        "LOW_ACTIVITY": "近90天支付活跃度较低",
        "SPENDING_UP": "支付活跃度提高",
        "SCORE_UP": "信用分提高",
        "SCORE_DOWN": "信用分下降",
        "OVERDUE_HISTORY": "近期有逾期记录（还清后额度减半一次）",
        "ACCOUNT_CLOSED": "借款核销后账户已关闭",
        "OVERDUE_FREEZE": "有逾期借款时暂停借款",
        "LIMIT_EXCEEDED": "金额超过可用额度",
        "UNKNOWN_LOAN": "该账户下没有这笔借款",
        "DUPLICATE_LOAN": "借款编号已被使用",
        "UNKNOWN_USER": "账户不存在",
        "AGE_OUT_OF_RANGE": "申请人年龄不在可借款范围内",
        "IDENTITY_UNVERIFIED": "尚未完成实名认证",
        "IDENTITY_EXPIRED": "身份证件已过期",
        "AUDIT_HOURS": "视频面审仅在08:00至24:00进行",
        "APPLICATION_EXPIRED": "48小时内未完成视频面审",
        "DUPLICATE_APPLICATION": "该借款编号已被其他申请或借款使用",
        "UNKNOWN_APPLICATION": "该账户下没有这笔申请",
        "APPLICATION_CLOSED": "该申请已有结果",
        "insufficient_funds": "余额不足",
        "card_invalid": "银行报告该卡无效",
        "outage": "银行系统故障",
        "no_reason": "银行未说明原因",
    },
}

SEPARATORS = {"en": ("; ", ", ", " and "), "zh": ("；", "、", "、")}
OR = {"en": " or ", "zh": "或"}
