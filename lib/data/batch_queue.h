// batch_queue.h: a bounded blocking queue between one producer thread and one consumer, which
// also carries the producer's exception to the consumer and can be closed from either side.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

namespace mp {

template <class T> class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Blocks while full. Returns false (dropping `v`) once the queue is closed.
  bool push(T v) {
    std::unique_lock<std::mutex> lk(m_);
    not_full_.wait(lk, [&] { return closed_ || q_.size() < capacity_; });
    if (closed_) return false;
    q_.push_back(std::move(v));
    not_empty_.notify_one();
    return true;
  }

  // Blocks while empty. Items pushed before a failure are delivered first; then the producer's
  // exception is rethrown. Returns nullopt when closed and drained.
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lk(m_);
    not_empty_.wait(lk, [&] { return closed_ || error_ || !q_.empty(); });
    if (!q_.empty()) {
      T v = std::move(q_.front());
      q_.pop_front();
      not_full_.notify_one();
      return v;
    }
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
  }

  // Producer side: record a failure; the consumer sees it after the items already queued.
  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lk(m_);
    error_ = std::move(e);
    not_empty_.notify_all();
  }

  // Either side: wake everyone; push returns false from now on.
  void close() {
    std::lock_guard<std::mutex> lk(m_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<T> q_;
  std::exception_ptr error_;
  size_t capacity_;
  bool closed_ = false;
};

}  // namespace mp
