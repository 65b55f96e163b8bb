"""The words of a planned main question when no model phrases it: several phrasings per
focus and language, so that no interview hears the same sentence shape twice.

Data only. Placeholders: ``{quote}`` (a piece of the résumé, quoted), ``{term}`` (what the
question is about), ``{need}`` (what the posting asks for), ``{employer}``. Which key is
used and which variant is chosen is :mod:`actors.session.plan`'s business.
"""

from __future__ import annotations

__all__ = ["TEMPLATES"]

#: language -> key -> variants. Keys: ``experience`` (a claim with an action and a result),
#: ``technical_need`` (a claim that shows a requirement of the posting), ``technical`` (a
#: claim naming a technology), ``technical_posting`` (a requirement the résumé does not
#: show), ``behaviour`` (a claim about working with people), ``behaviour_work`` (any other
#: claim, asked about the people around it), ``behaviour_employer`` (only an employer).
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "experience": (
            "Your résumé mentions “{quote}”. What did you do yourself there, and how did you "
            "measure the result?",
            "Tell me more about “{quote}”. What was your own part in it, and what came out of it?",
            "You wrote “{quote}”. What was the hardest part of that for you personally, and "
            "how did it turn out?",
            "About “{quote}”: what was the situation when you started, what did you change, "
            "and how did you know it worked?",
        ),
        "technical_need": (
            "This role needs {need}, and your résumé mentions “{quote}”. Walk me through the "
            "hardest technical decision you made there.",
            "The posting asks for {need}. In “{quote}”, which trade-offs did you weigh, and "
            "what would you do differently today?",
            "Since {need} matters in this role: in “{quote}”, how did you design your part, "
            "and which alternatives did you reject?",
        ),
        "technical": (
            "Your résumé mentions “{quote}”. Why {term} there, and what trade-offs did you "
            "weigh in how you used it?",
            "In “{quote}”, what was the hardest technical problem you ran into, and how did "
            "you solve it?",
            "Looking back at “{quote}”: if you built it again today, what would you keep, "
            "what would you change, and why?",
        ),
        "technical_posting": (
            "The posting asks for {need}. Where have you done something like that, and what "
            "trade-offs would you weigh doing it here?",
            "This role involves {need}. Tell me about the closest thing you have done "
            "yourself, and how it went.",
            "How would you approach {need} in your first months here, based on what you have "
            "done before?",
        ),
        "behaviour": (
            "Your résumé says “{quote}”. Tell me about a difficult moment with the people "
            "involved in that work. What did you do, and how did it end?",
            "In “{quote}”, was there a disagreement about the direction? How did you handle "
            "it, and what happened?",
            "Thinking of “{quote}”: tell me about a time someone pushed back on you there. "
            "What did you do?",
        ),
        "behaviour_work": (
            "When you worked on “{quote}”, who did you have to convince or work closely "
            "with, and what was hard about it?",
            "Behind “{quote}”, was there a moment when someone disagreed with your "
            "approach? What did you do?",
            "Tell me about the people side of “{quote}”: a hard conversation you had, and "
            "how it ended.",
        ),
        "behaviour_employer": (
            "Tell me about a difficult moment with a colleague during your time at "
            "{employer}. What did you do, and how did it end?",
            "At {employer}, was there a decision you disagreed with? How did you raise it, "
            "and what happened?",
            "Tell me about a time at {employer} when a project went wrong. What was your "
            "part in putting it right?",
        ),
    },
    "ko": {
        "experience": (
            "이력서에 “{quote}”라고 적으셨는데요. 그 일에서 본인이 직접 한 일과, 결과를 "
            "어떻게 측정했는지 말씀해 주시겠어요?",
            "“{quote}” 부분에 대해 더 듣고 싶습니다. 본인이 맡은 역할과 그 결과를 구체적으로 "
            "말씀해 주세요.",
            "“{quote}”라고 쓰셨는데, 그 과정에서 개인적으로 가장 어려웠던 점은 무엇이었고 "
            "결과는 어땠나요?",
            "“{quote}” 당시 상황이 어땠고, 무엇을 바꾸셨으며, 효과가 있었다는 건 어떻게 "
            "확인하셨나요?",
        ),
        "technical_need": (
            "이 직무에서는 {need} 역량이 중요한데, 이력서에 “{quote}”라고 적으셨습니다. 그 "
            "작업에서 내린 가장 어려운 기술적 결정을 설명해 주시겠어요?",
            "공고에서 요구하는 {need} 역량과 관련해서, “{quote}” 작업에서 어떤 트레이드오프를 "
            "고민하셨고 지금이라면 무엇을 다르게 하시겠어요?",
            "이 자리에서는 {need} 경험이 중요합니다. “{quote}”에서 본인이 맡은 부분을 어떻게 "
            "설계하셨고, 어떤 대안을 검토하셨나요?",
        ),
        "technical": (
            "이력서에 “{quote}”라고 적으셨는데요. 거기서 {term} 기술을 선택한 이유와, 사용하면서 "
            "고민한 트레이드오프를 말씀해 주세요.",
            "“{quote}” 작업에서 부딪힌 가장 어려운 기술적 문제는 무엇이었고, 어떻게 해결하셨나요?",
            "“{quote}”라고 하셨는데, 지금 다시 만든다면 무엇을 유지하고 무엇을 바꾸시겠어요? "
            "이유도 함께 말씀해 주세요.",
        ),
        "technical_posting": (
            "공고에서 {need} 경험을 요구합니다. 관련해서 어떤 경험이 있으시고, 이 자리에서라면 "
            "어떤 트레이드오프를 고려하시겠어요?",
            "이 직무에는 {need} 역량이 필요합니다. 직접 해 보신 일 중 가장 가까운 경험을 "
            "말씀해 주시겠어요?",
            "입사 후 처음 몇 달 동안 {need} 업무를 맡는다면, 이전 경험을 바탕으로 어떻게 "
            "접근하시겠어요?",
        ),
        "behaviour": (
            "이력서에 “{quote}”라고 적으셨는데요. 그 일을 함께한 사람들과 어려웠던 순간이 "
            "있었다면, 어떻게 대처하셨고 결과는 어땠나요?",
            "“{quote}” 과정에서 방향을 두고 의견이 갈린 적이 있나요? 어떻게 풀어 가셨고 "
            "결과는 어땠나요?",
            "“{quote}” 일을 하면서 누군가 본인의 의견에 반대했던 순간을 말씀해 주세요. 그때 "
            "어떻게 하셨나요?",
        ),
        "behaviour_work": (
            "“{quote}” 작업을 하실 때 누구를 설득하거나 긴밀히 협력해야 했고, 그 과정에서 "
            "무엇이 어려웠나요?",
            "“{quote}” 일을 진행하면서 접근 방식에 동의하지 않는 사람이 있었던 순간이 있나요? "
            "어떻게 하셨나요?",
            "“{quote}” 과정에서 가장 어려웠던 대화 한 가지와, 그 대화가 어떻게 끝났는지 "
            "말씀해 주세요.",
        ),
        "behaviour_employer": (
            "{employer}에서 일하실 때 동료와 의견이 부딪혀 어려웠던 순간이 있었다면, 어떻게 "
            "대처하셨고 결과는 어땠나요?",
            "{employer} 재직 중에 동의하기 어려운 결정이 있었나요? 어떻게 의견을 내셨고 결과는 "
            "어땠나요?",
            "{employer}에서 프로젝트가 잘못 흘러갔던 때를 말씀해 주세요. 바로잡는 데 본인은 "
            "어떤 역할을 하셨나요?",
        ),
    },
}
