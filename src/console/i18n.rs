//! The console's two languages: what a page says, in Japanese and English.
//! The language is the `kessai_lang` cookie's, else the browser's first of
//! `ja` and `en` in `Accept-Language`, else Japanese.

use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::domain::OrderStatus;
use crate::domain::rules::{CapturePolicy, RefundReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

pub const LANG_COOKIE: &str = "kessai_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        let primary = value.trim().split(['-', ';']).next()?.trim();
        match primary.to_ascii_lowercase().as_str() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The page's language for a request.
    pub fn of(headers: &HeaderMap) -> Self {
        if let Some(lang) = super::session::cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|accepted| accepted.split(',').find_map(Lang::parse))
            .unwrap_or(Lang::Ja)
    }

    pub fn other(self) -> Self {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    pub fn status(self, status: OrderStatus) -> &'static str {
        let (en, ja) = match status {
            OrderStatus::RequiresAction => ("Requires action", "要対応"),
            OrderStatus::Authorized => ("Authorized", "与信済み"),
            OrderStatus::PartiallyCaptured => ("Partially captured", "一部売上確定"),
            OrderStatus::Captured => ("Captured", "売上確定"),
            OrderStatus::Voided => ("Voided", "取消済み"),
            OrderStatus::Expired => ("Expired", "期限切れ"),
            OrderStatus::Declined => ("Declined", "拒否"),
            OrderStatus::Pending => ("Pending", "保留中"),
        };
        self.pick(en, ja)
    }

    /// The provider's capture rule, said beside the Capture button.
    pub fn capture_rule(self, policy: CapturePolicy) -> &'static str {
        let (en, ja) = match policy {
            CapturePolicy::OnePartialThenRemainder => (
                "One partial capture, then only the remainder.",
                "一部売上確定は1回まで、その後は残額のみ確定できます。",
            ),
            CapturePolicy::Multiple => (
                "Several captures, up to the authorized amount.",
                "与信額までなら複数回の売上確定ができます。",
            ),
            CapturePolicy::Single => (
                "One capture, any amount up to the total; the rest is released.",
                "売上確定は1回のみ。合計額までの任意の金額で、残りは解放されます。",
            ),
        };
        self.pick(en, ja)
    }

    pub fn refund_reason(self, reason: RefundReason) -> &'static str {
        let (en, ja) = match reason {
            RefundReason::RequestedByCustomer => ("Requested by the customer", "お客様のご依頼"),
            RefundReason::Fraudulent => ("Fraudulent", "不正利用"),
            RefundReason::Duplicate => ("Duplicate", "重複"),
        };
        self.pick(en, ja)
    }

    fn pick(self, en: &'static str, ja: &'static str) -> &'static str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

macro_rules! messages {
    ($($name:ident => $en:literal, $ja:literal;)*) => {
        /// Every sentence the console's pages say.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum M { $($name),* }

        impl Lang {
            pub fn t(self, message: M) -> &'static str {
                match message {
                    $(M::$name => self.pick($en, $ja),)*
                }
            }
        }
    };
}

messages! {
    Console => "kessai console", "kessai コンソール";
    Orders => "Orders", "注文";
    Overview => "Overview", "概要";
    SignIn => "Sign in", "サインイン";
    SignOut => "Sign out", "サインアウト";
    Token => "Operator token", "オペレーター用トークン";
    SignInHelp => "Sign in with a caller token that has the console scope.", "console スコープを持つトークンでサインインしてください。";
    SandboxSignIn => "Authentication is off (sandbox): enter as the sandbox operator.", "認証はオフです（サンドボックス）。サンドボックスのオペレーターとして入ります。";
    Enter => "Enter", "入る";
    BadToken => "This token is not an operator's (no console scope, or unknown).", "このトークンはオペレーターのものではありません（console スコープがないか、不明です）。";
    TabAll => "All", "すべて";
    TabUncaptured => "Uncaptured", "未確定";
    TabReview => "Needs review", "要確認";
    TabPending => "Pending", "保留中";
    Search => "Search", "検索";
    SearchHint => "Order id, merchant reference, customer name or e-mail", "注文ID、加盟店参照番号、お客様の名前またはメールアドレス";
    Provider => "Provider", "決済サービス";
    Status => "Status", "ステータス";
    Any => "Any", "すべて";
    From => "From", "開始日";
    To => "To", "終了日";
    Created => "Created", "作成日時";
    OrderId => "Order id", "注文ID";
    Reference => "Merchant reference", "加盟店参照番号";
    Customer => "Customer", "お客様";
    Amount => "Amount", "金額";
    Authorized => "Authorized", "与信額";
    Captured => "Captured", "売上確定額";
    Capturable => "Capturable", "確定可能額";
    Refunded => "Refunded", "返金額";
    Expires => "Expires", "有効期限";
    NoOrders => "No orders match.", "該当する注文はありません。";
    NextPage => "Next page", "次のページ";
    FirstPage => "First page", "最初のページ";
    ProviderIds => "Provider ids", "決済サービス側のID";
    OpenDashboard => "Open in the provider's dashboard", "決済サービスの管理画面で開く";
    Card => "Card", "カード";
    Captures => "Captures", "売上確定";
    Refunds => "Refunds", "返金";
    Timeline => "Timeline", "履歴";
    Event => "Event", "イベント";
    Actor => "By", "実行者";
    Description => "Description", "説明";
    Reason => "Reason", "理由";
    Capture => "Capture", "売上確定";
    Refund => "Refund", "返金";
    Void => "Void", "取消";
    Reconcile => "Reconcile now", "今すぐ照合";
    NeedsReviewFlag => "This order needs review by a person.", "この注文は担当者の確認が必要です。";
    ReadOnly => "You may look, not act: your token has no charge or refund scope.", "閲覧のみ可能です（charge / refund スコープがありません）。";
    Done => "Done.", "完了しました。";
    Refused => "Not done", "実行できませんでした";
    NotAllowed => "Your token may not do this.", "このトークンでは実行できません。";
    StaleForm => "This form has expired; reload the page and try again.", "フォームの有効期限が切れました。再読み込みしてやり直してください。";
    NotFound => "No such order.", "注文が見つかりません。";
    Today => "Today", "今日";
    Last14Days => "Last 14 days", "過去14日間";
    ExpiringSoon => "Expiring within 24 h", "24時間以内に期限切れ";
    Language => "日本語", "English";
    Nothing => "—", "—";
    Shopper => "Shopper", "購入者";
    NoneYet => "None yet.", "まだありません。";
    Total => "Total", "合計";
}

#[derive(Deserialize)]
pub struct Switch {
    to: String,
    #[serde(default)]
    back: String,
}

/// `GET /lang?to=en&back=/orders`: remembers the language, then goes back.
pub async fn switch(Query(switch): Query<Switch>) -> Response {
    let lang = Lang::parse(&switch.to).unwrap_or(Lang::Ja);
    // Only a path on this console: never an open redirect.
    let back = if switch.back.starts_with('/') && !switch.back.starts_with("//") {
        switch.back
    } else {
        "/orders".to_owned()
    };
    let mut response = Redirect::to(&back).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_cookie_wins_then_the_browsers_first_known_language_then_japanese() {
        assert_eq!(Lang::of(&headers(&[])), Lang::Ja);
        assert_eq!(
            Lang::of(&headers(&[(
                "accept-language",
                "fr-FR, en-US;q=0.8, ja;q=0.5"
            )])),
            Lang::En
        );
        assert_eq!(
            Lang::of(&headers(&[
                ("accept-language", "en-US"),
                ("cookie", "a=b; kessai_lang=ja")
            ])),
            Lang::Ja
        );
    }

    #[test]
    fn every_message_has_both_languages() {
        for message in [M::Console, M::Capture, M::TabUncaptured, M::StaleForm] {
            assert_ne!(Lang::Ja.t(message), Lang::En.t(message));
        }
    }
}
